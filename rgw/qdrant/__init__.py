"""Qdrant's REST grammar: parse and validate request bodies into plain typed data; evaluate filters.

Shared by the region store (which turns the typed data into engine objects) and the gateway
(which validates writes before journaling them and evaluates filters in Python), so that both
accept exactly the same requests and word their refusals the same way. Nothing here imports the
engine.
"""
