"""The requirement tree of a programme, and the one place that decides what satisfies it.

Pure: no database here.  A tree is made of ``SetNode`` (a rule over its children) and
``CourseNode`` (a course, any run of which counts unless excluded, with an optional minimum
grade).  ``evaluate`` turns a person's course results into a state per node; ``problems`` lists
why a tree can never be completed; ``order_cycle`` finds a prerequisite cycle that the tree's
"all in order" sets and the courses' own prerequisites make together.

The rules (what Open LMS programs offer, plus minimum grades and nesting everywhere):
- ``all_in_order``: every child, each started only once the ones before it are done;
- ``all``: every child, in any order;
- ``at_least``: at least ``count`` of the children (electives: "2 of 3");
- ``min_points``: the done children's points add up to at least ``count``.
A course item is done by a passed run of the course (not an excluded run) whose grade is at
least the item's minimum grade; in progress while the person holds a seat in a run of it.
"""

from __future__ import annotations

import graphlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

ALL_IN_ORDER = "all_in_order"
ALL = "all"
AT_LEAST = "at_least"
MIN_POINTS = "min_points"

DONE = "done"
IN_PROGRESS = "in_progress"
AVAILABLE = "available"  # may be started now
LOCKED = "locked"  # waits for earlier items of an "all in order" set


@dataclass(frozen=True)
class CourseNode:
    id: int
    course_id: int
    label: str
    points: Decimal = Decimal(0)
    min_grade: Decimal | None = None
    excluded_run_ids: frozenset[int] = frozenset()


@dataclass(frozen=True)
class SetNode:
    id: int
    label: str
    rule: str
    count: Decimal = Decimal(0)
    points: Decimal = Decimal(0)
    children: tuple[SetNode | CourseNode, ...] = ()


Node = SetNode | CourseNode


@dataclass(frozen=True)
class Result:
    """A person's finished run of a course: its grade, passed or not, and when it ended."""

    run_id: int
    course_id: int
    grade: Decimal | None
    passed: bool
    finished_at: datetime


@dataclass
class NodeState:
    state: str
    evidence: Result | None = None  # course items: the run that did it
    done_children: int = 0
    points: Decimal = Decimal(0)  # of done children (sets) or the item's own when done


@dataclass
class Evaluation:
    states: dict[int, NodeState] = field(default_factory=dict)

    def of(self, node: Node) -> NodeState:
        return self.states[node.id]

    @property
    def evidence(self) -> list[Result]:
        return [s.evidence for s in self.states.values() if s.evidence is not None]


def _best(node: CourseNode, results: Iterable[Result]) -> Result | None:
    counting = [
        r
        for r in results
        if r.course_id == node.course_id
        and r.run_id not in node.excluded_run_ids
        and r.passed
        and (node.min_grade is None or (r.grade is not None and r.grade >= node.min_grade))
    ]
    return max(counting, key=lambda r: (r.grade or Decimal(0), r.finished_at), default=None)


def evaluate(
    root: SetNode, results: Sequence[Result], seated_course_ids: Iterable[int] = ()
) -> Evaluation:
    """The state of every node for one person: ``results`` are their finished runs,
    ``seated_course_ids`` the courses they hold a seat in now."""
    seated = set(seated_course_ids)
    by_course: dict[int, list[Result]] = {}
    for result in results:
        by_course.setdefault(result.course_id, []).append(result)
    out = Evaluation()

    def visit(node: Node, open_: bool) -> NodeState:
        if isinstance(node, CourseNode):
            best = _best(node, by_course.get(node.course_id, ()))
            if best is not None:
                state = NodeState(DONE, evidence=best, points=node.points)
            elif node.course_id in seated:
                state = NodeState(IN_PROGRESS)
            else:
                state = NodeState(AVAILABLE if open_ else LOCKED)
            out.states[node.id] = state
            return state
        children: list[NodeState] = []
        earlier_done = True
        for child in node.children:
            child_open = open_ and (node.rule != ALL_IN_ORDER or earlier_done)
            child_state = visit(child, child_open)
            children.append(child_state)
            earlier_done = earlier_done and child_state.state == DONE
        done = [c for c, s in zip(node.children, children, strict=True) if s.state == DONE]
        points = sum((c.points for c in done), Decimal(0))
        if node.rule in (ALL, ALL_IN_ORDER):
            complete = len(done) == len(node.children)
        elif node.rule == AT_LEAST:
            complete = len(done) >= node.count
        else:
            complete = points >= node.count
        if complete:
            state_name = DONE
        elif any(s.state in (DONE, IN_PROGRESS) for s in children):
            state_name = IN_PROGRESS
        else:
            state_name = AVAILABLE if open_ else LOCKED
        state = NodeState(state_name, done_children=len(done), points=points)
        out.states[node.id] = state
        return state

    visit(root, True)
    return out


def walk(node: Node) -> Iterable[Node]:
    yield node
    if isinstance(node, SetNode):
        for child in node.children:
            yield from walk(child)


def problems(root: SetNode) -> list[str]:
    """Why the tree can never be completed, in words (empty: it can).  Codes, not prose: the
    caller translates (``PROBLEM_TEXT`` in the services)."""
    found: list[str] = []
    seen: set[int] = set()
    for node in walk(root):
        if isinstance(node, CourseNode):
            if node.course_id in seen:
                found.append(f"twice:{node.label}")
            seen.add(node.course_id)
            continue
        if not node.children:
            found.append(f"empty:{node.label}")
        elif node.rule == AT_LEAST and not 0 < node.count <= len(node.children):
            found.append(f"count:{node.label}")
        elif node.rule == MIN_POINTS and (
            node.count <= 0 or sum((c.points for c in node.children), Decimal(0)) < node.count
        ):
            found.append(f"points:{node.label}")
    return found


def order_cycle(
    root: SetNode, prerequisites: Mapping[int, Iterable[int]], labels: Mapping[int, str]
) -> list[str] | None:
    """A cycle of courses each required before the next, or None.  Edges: a course's own
    prerequisites, and in an "all in order" set every course of a child before the courses of
    the children after it.  The cycle is returned as labels, first course repeated last."""
    graph: dict[int, set[int]] = {c: set(p) for c, p in prerequisites.items()}
    for node in walk(root):
        if isinstance(node, SetNode) and node.rule == ALL_IN_ORDER:
            before: set[int] = set()
            for child in node.children:
                courses = {n.course_id for n in walk(child) if isinstance(n, CourseNode)}
                for course in courses:
                    graph.setdefault(course, set()).update(before - {course})
                before |= courses
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        cycle = list(error.args[1])  # each node comes before the next; first repeated last
        return [labels.get(c, str(c)) for c in cycle]
    return None
