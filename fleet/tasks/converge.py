"""One robot, from what it should hold to what it holds: gather, plan, then execute (or,
with --check, render the plan). `fleet login`, `logout`, `pull`, `apply` and `status` are
all this, with different desired states and different endings."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fleet.credentials.store import Credential, Store
from fleet.reference import Reference
from fleet.results import HostResult, Status
from fleet.runner import TaskContext
from fleet.tasks.actions import Action, ActionResult
from fleet.tasks.desired import DesiredState, account_for
from fleet.tasks.execute import ExecuteOptions, execute, preview
from fleet.tasks.gather import RegistryView, Robot, gather
from fleet.tasks.plan import plan, robot_variant, wanted_references
from fleet.tasks.state import RobotState

# How a robot's result sums up its actions: the worst status wins.
SEVERITY = (Status.UNREACHABLE, Status.FAILED, Status.CHANGED, Status.OK, Status.SKIPPED)


@dataclass(frozen=True)
class Converge:
    """What every robot of one run shares."""

    store: Store
    registry: RegistryView | None  # None: no image to ask a registry about
    check: bool = False
    options: ExecuteOptions = ExecuteOptions()

    def credential_for(self, robot: Robot) -> Callable[[Reference], Credential | None]:
        """The stored account a robot's pulls send to each registry."""

        def lookup(ref: Reference) -> Credential | None:
            key = ref.registry_key
            return self.store.get(key, account_for(robot.host.vars, key))

        return lookup


def planned(robot: Robot, desired: DesiredState, run: Converge) -> tuple[RobotState, list[Action]]:
    """Gather, ask the registry what it needs, plan: no change on the robot."""
    state = gather(robot, desired)
    references = wanted_references(desired, state)
    answers = {}
    if references and run.registry is not None:
        platform = robot_variant(desired, state).platform
        cache = run.options.cache if desired.delivery == "cache" else None
        answers = run.registry.answers(
            robot, references, run.credential_for(robot), platform, cache
        )
    return state, plan(desired, state, answers)


def converge(robot: Robot, desired: DesiredState, run: Converge, ctx: TaskContext) -> HostResult:
    state, actions = planned(robot, desired, run)
    if run.check:
        results = preview(actions)
        for result in results:
            ctx.action(result)
    else:
        results = execute(robot, actions, ctx, run.credential_for(robot), run.options)
    return host_result(robot.host.name, desired, state, results)


def host_result(
    host: str, desired: DesiredState, state: RobotState, results: Sequence[ActionResult]
) -> HostResult:
    """The robot's status is its worst action's; the reason is that action's, and the data
    is what `fleet pull` has always said of its one image."""
    if not results:
        return HostResult(host, Status.OK, "nothing declared for this robot")
    worst = min(results, key=lambda r: SEVERITY.index(r.status)).status
    deciding = [r for r in results if r.status is worst]
    reason = deciding[0].reason
    if len(deciding) > 1:
        reason += f" (+{len(deciding) - 1} more)"
    status = Status.OK if worst is Status.SKIPPED else worst
    return HostResult(host, status, reason, _data(desired, state, results), actions=tuple(results))


def _data(
    desired: DesiredState, state: RobotState, results: Sequence[ActionResult]
) -> dict[str, Any]:
    data: dict[str, Any] = {}
    if desired.images and state.docker is not None:
        choice = robot_variant(desired, state)
        data = {"variant": choice.variant, "platform": str(choice.platform or "")}
    image_results = [r for r in results if r.action.item.startswith("image ")]
    if len({r.action.item for r in image_results}) == 1:
        data.update(image_results[0].data)
    data["actions"] = dict(Counter(str(r.status) for r in results))
    return data
