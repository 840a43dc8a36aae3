"""The read models in PostgreSQL (schema `analytics`): their schema, writer and readers."""
