"""What programmes tells apps above it, without knowing them."""

from django.dispatch import Signal

# Sent inside the recompute's transaction with ``completions`` (the new Completion rows) when
# people complete a programme; the credentials app issues their certificates after the commit.
programme_completed = Signal()
