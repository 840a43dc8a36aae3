"""The read models in PostgreSQL (schema `analytics`), shared by the write and the read side:
the schema and its migrations, and the connection pool."""
