"""Who is asking and what they may do: client credentials as Qdrant 1.19 reads them (api keys, HS256 JWTs),
checked once before dispatch (`guard`), per-credential rate limits, the audit log, and the operator API's
token."""
