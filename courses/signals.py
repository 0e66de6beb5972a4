"""Questions the course side asks apps that know more than it does.  Courses sends them and
knows none of its listeners, so it never imports the labs side (which depends on it)."""

from django.dispatch import Signal

# Sent with ``user`` when a rule needs the courses a person passed (the evidence of a
# prerequisite).  Each receiver returns a set of course ids; the labs side, which computes
# grades, answers with the courses of a run passed under the run's own grading policy.
passed_courses = Signal()

# Sent with ``user``, ``kind`` (tracking.models.EventKind's values), ``run`` and optionally
# ``object_id`` (the lesson, lab or session) when a person does something in a run: the
# tracking app records it with one insert.  Courses and notebooks send it, knowing no listener.
learning_event = Signal()
