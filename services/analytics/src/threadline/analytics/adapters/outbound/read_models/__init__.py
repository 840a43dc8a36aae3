"""The read models in PostgreSQL (schema `analytics`), written by the projection and read by
the queries: the schema and its migrations, the connection pool (`database`); the live
projection's `ProjectionStore` (`projection_store`: `writer` with its `statements`,
`positions`, the projections `lock`, `retries`); a rebuild's bulk side (`rebuild/`)."""
