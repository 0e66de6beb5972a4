"""Pages of the course side.  Thin: objects come through the selectors (scoped to the user),
changes go through the services."""
