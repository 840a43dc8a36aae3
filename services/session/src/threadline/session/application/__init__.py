"""Use cases of the session service: facts and requests applied to the aggregates."""
