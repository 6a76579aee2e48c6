"""One function per action class for one concern (Alembic's `dispatch_for`).

Knowledge that is the action's own (its target, label, what it touches, what its
failure taints, why a report-only action is skipped) lives on the action classes
(`reconcile.plan.actions`). Knowledge that belongs to a later stage (how to carry
an action out, how to describe it, what its dry run would do) lives in that stage,
in an `ActionRegistry` keyed by the action class:

    HANDLERS = ActionRegistry("apply handlers", acting_kinds())

    @HANDLERS.register(CreateDataset)
    def _create_dataset(ctx, a): ...

    HANDLERS.verify()   # at the end of the module: a kind left out fails at import

Every registry built is listed in `ActionRegistry.ALL`; the architecture test
imports every module and checks that each registry covers exactly its kinds, so
adding an action kind fails loudly wherever it is forgotten. A lookup of a class
with no entry raises UnknownAction: there is no silent default.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Callable, ClassVar, Generic, Iterable, TypeVar

from reconcile.plan.actions import ACTIONS, Action, UnknownAction

F = TypeVar("F", bound=Callable)


def acting_kinds() -> tuple[type[Action], ...]:
    """The action classes that change the warehouse (the others are only reported)."""
    return tuple(c for c in ACTIONS if not (c.diagnostic or c.needs_attention))


def reported_kinds() -> tuple[type[Action], ...]:
    return tuple(c for c in ACTIONS if c.diagnostic or c.needs_attention)


class ActionRegistry(Generic[F]):
    ALL: ClassVar[list["ActionRegistry"]] = []

    def __init__(self, concern: str, kinds: Iterable[type[Action]] = ACTIONS):
        self.concern = concern
        self.kinds = tuple(kinds)
        self._fns: dict[type[Action], F] = {}
        ActionRegistry.ALL.append(self)

    def register(self, *classes: type[Action]) -> Callable[[F], F]:
        def deco(fn: F) -> F:
            for cls in classes:
                if cls not in self.kinds:
                    raise TypeError(f"{self.concern}: {cls.__name__} is not one of its kinds")
                if cls in self._fns:
                    raise TypeError(f"{self.concern}: {cls.__name__} registered twice")
                self._fns[cls] = fn
            return fn
        return deco

    def register_all(self, entries: dict[type[Action], F]) -> None:
        """Register several classes at once, each with its own function."""
        for cls, fn in entries.items():
            self.register(cls)(fn)

    def missing(self) -> list[str]:
        return [c.__name__ for c in self.kinds if c not in self._fns]

    def verify(self) -> "ActionRegistry[F]":
        """Raise unless every kind has an entry (call at the end of the defining module)."""
        if self.missing():
            raise TypeError(f"{self.concern}: no entry for {', '.join(self.missing())}")
        return self

    def mapping(self) -> MappingProxyType:
        """A read-only, live view: class -> function."""
        return MappingProxyType(self._fns)

    def __contains__(self, cls: object) -> bool:
        return cls in self._fns

    def __getitem__(self, action: Action) -> F:
        fn = self._fns.get(type(action))
        if fn is None:
            raise UnknownAction(action, self.concern)
        return fn

