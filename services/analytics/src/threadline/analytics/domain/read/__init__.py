"""The read side's values: `criteria` (what a query asks, validated), `views` and `window`
(what it answers), `errors` (what it may be refused for)."""
