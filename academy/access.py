"""One per-user cache of access facts (the runs someone teaches, the institutions they
administer), so that a page asking "may this user ...?" many times costs one query per fact.

Facts are kept on the user object, which Django builds anew for every request, so they live
as long as one request (or one service call with that object) and are never shared between
users.  Nothing in a request changes someone's rights and then asks about them again (writes
redirect), so nothing invalidates the cache; a test that does should use a fresh user object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_ATTR = "_academy_access"


def memo[T](user: Any, key: str, compute: Callable[[], T]) -> T:
    """``compute()`` once per user object and ``key``; anonymous users are not cached."""
    if not getattr(user, "is_authenticated", False):
        return compute()
    # getattr/setattr, not ``__dict__``: ``request.user`` is a lazy proxy that forwards them.
    store: dict[str, Any] | None = getattr(user, _ATTR, None)
    if store is None:
        store = {}
        setattr(user, _ATTR, store)
    if key not in store:
        store[key] = compute()
    return store[key]
