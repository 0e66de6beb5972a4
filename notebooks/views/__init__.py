"""Pages of the labs side.  Thin: every object comes through the selectors (404 when the user
may not see it) and every write goes through a service."""
