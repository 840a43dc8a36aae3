"""The read models as a rebuild writes them: a schema made like `analytics` and switched into
its place (`schemas`), rows read and copied in bulk (`store`), on one connection a rebuild owns
(`database`)."""
