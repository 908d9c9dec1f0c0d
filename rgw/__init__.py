"""Retrieval gateway: a failover proxy in front of Qdrant-compatible region stores."""

__version__ = "0.1.0"

# The Qdrant REST API version both the store and the gateway speak (see shared/reference).
QDRANT_API_VERSION = "1.19.0"

# Qdrant's default service.max_request_size_mb: the largest body the store and the gateway accept.
QDRANT_MAX_REQUEST_BYTES = 32 * 1024 * 1024
