"""Retrieval gateway: a failover proxy in front of Qdrant-compatible region stores."""

__version__ = "0.1.0"

# The Qdrant REST API version both the store and the gateway speak (see shared/reference).
QDRANT_API_VERSION = "1.19.0"
