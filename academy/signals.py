"""Events of the people side that other apps act on.  Academy sends them and knows none of its
listeners, so the project package never imports the course side (which depends on it)."""

from django.dispatch import Signal

# Sent after a person's acceptance has committed, outside the transaction, with ``invitation``
# and ``user``: the course side turns seats reserved for the address into enrolments.
invitation_accepted = Signal()
