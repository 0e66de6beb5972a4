"""The requirement rules, pure: each set rule, minimum grades, order, problems, cycles."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from programmes import rules
from programmes.rules import CourseNode, Result, SetNode

WHEN = datetime(2026, 6, 1, tzinfo=UTC)


def course(node_id: int, course_id: int, points: int = 5, min_grade: int | None = None, **kw):  # type: ignore[no-untyped-def]
    return CourseNode(
        id=node_id,
        course_id=course_id,
        label=f"C{course_id}",
        points=Decimal(points),
        min_grade=None if min_grade is None else Decimal(min_grade),
        **kw,
    )


def passed(course_id: int, grade: int = 80, run_id: int | None = None) -> Result:
    return Result(run_id or course_id * 10, course_id, Decimal(grade), True, WHEN)


# AI engineer, foundation: GPU101, then 2 of {imaging, energy, LLM}, then a capstone.
ELECTIVES = SetNode(
    id=2, label="electives", rule=rules.AT_LEAST, count=Decimal(2),
    children=(course(3, 2), course(4, 3), course(5, 4)),
)  # fmt: skip
FOUNDATION = SetNode(
    id=1, label="AI engineer", rule=rules.ALL_IN_ORDER,
    children=(course(6, 1), ELECTIVES, course(7, 5, min_grade=70)),
)  # fmt: skip


def test_nothing_done_opens_only_the_first_step_of_an_ordered_set():
    ev = rules.evaluate(FOUNDATION, [])
    assert ev.states[6].state == rules.AVAILABLE
    assert ev.states[2].state == rules.LOCKED
    assert ev.states[3].state == rules.LOCKED
    assert ev.states[7].state == rules.LOCKED
    assert ev.states[1].state == rules.AVAILABLE


def test_a_seat_is_in_progress_and_the_next_step_waits():
    ev = rules.evaluate(FOUNDATION, [], seated_course_ids=[1])
    assert ev.states[6].state == rules.IN_PROGRESS
    assert ev.states[2].state == rules.LOCKED
    assert ev.states[1].state == rules.IN_PROGRESS


def test_two_of_three_electives_complete_the_set_and_open_the_capstone():
    ev = rules.evaluate(FOUNDATION, [passed(1), passed(2)])
    assert ev.states[2].state == rules.IN_PROGRESS
    assert ev.states[7].state == rules.LOCKED
    ev = rules.evaluate(FOUNDATION, [passed(1), passed(2), passed(4)])
    assert ev.states[2].state == rules.DONE and ev.states[2].done_children == 2
    assert ev.states[4].state == rules.AVAILABLE  # the third elective may still be taken
    assert ev.states[7].state == rules.AVAILABLE
    assert ev.states[1].state == rules.IN_PROGRESS


def test_the_capstone_needs_its_minimum_grade():
    done = [passed(1), passed(2), passed(3)]
    assert rules.evaluate(FOUNDATION, [*done, passed(5, grade=69)]).states[1].state != rules.DONE
    ev = rules.evaluate(FOUNDATION, [*done, passed(5, grade=69), passed(5, grade=70, run_id=99)])
    assert ev.states[1].state == rules.DONE
    assert ev.states[7].evidence is not None and ev.states[7].evidence.run_id == 99


def test_a_failed_or_excluded_run_does_not_count():
    node = course(1, 1, excluded_run_ids=frozenset({10}))
    root = SetNode(id=9, label="r", rule=rules.ALL, children=(node,))
    failed = Result(11, 1, Decimal(30), False, WHEN)
    assert rules.evaluate(root, [failed]).states[1].state == rules.AVAILABLE
    assert rules.evaluate(root, [passed(1, run_id=10)]).states[1].state == rules.AVAILABLE
    assert rules.evaluate(root, [passed(1, run_id=12)]).states[1].state == rules.DONE


def test_all_in_any_order_opens_every_child():
    root = SetNode(id=9, label="r", rule=rules.ALL, children=(course(1, 1), course(2, 2)))
    ev = rules.evaluate(root, [passed(2)])
    assert ev.states[1].state == rules.AVAILABLE
    assert ev.states[9].state == rules.IN_PROGRESS
    assert rules.evaluate(root, [passed(1), passed(2)]).states[9].state == rules.DONE


def test_minimum_points_adds_the_done_items_points():
    root = SetNode(
        id=9, label="r", rule=rules.MIN_POINTS, count=Decimal(8),
        children=(course(1, 1, points=5), course(2, 2, points=3), course(3, 3, points=2)),
    )  # fmt: skip
    assert rules.evaluate(root, [passed(1), passed(3)]).states[9].state == rules.IN_PROGRESS
    ev = rules.evaluate(root, [passed(1), passed(2)])
    assert ev.states[9].state == rules.DONE and ev.states[9].points == Decimal(8)


def test_problems_name_every_set_that_can_never_complete():
    root = SetNode(
        id=1, label="root", rule=rules.ALL,
        children=(
            SetNode(id=2, label="empty", rule=rules.ALL),
            SetNode(id=3, label="three of two", rule=rules.AT_LEAST, count=Decimal(3),
                    children=(course(4, 1), course(5, 2))),
            SetNode(id=6, label="too many points", rule=rules.MIN_POINTS, count=Decimal(20),
                    children=(course(7, 3, points=5),)),
            course(8, 1),
        ),
    )  # fmt: skip
    assert rules.problems(root) == [
        "empty:empty",
        "count:three of two",
        "points:too many points",
        "twice:C1",
    ]
    assert rules.problems(FOUNDATION) == []


def test_an_order_against_a_prerequisite_is_a_cycle_with_its_path():
    # FOUNDATION puts C1 before the capstone C5; C5 required before C1 closes a cycle.
    labels = {i: f"C{i}" for i in range(1, 6)}
    assert rules.order_cycle(FOUNDATION, {}, labels) is None
    cycle = rules.order_cycle(FOUNDATION, {1: [5]}, labels)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert {"C1", "C5"} <= set(cycle)
    assert rules.order_cycle(FOUNDATION, {5: [1]}, labels) is None  # the same direction: fine
