"""HTTP routes of the rules engine: the rules and their state, a dry-run preview, a manual
re-evaluation, the action journal, and the duty operator's prompts."""

from __future__ import annotations

from fastapi import APIRouter, Query

from emergency.auth.dependencies import Operator, Reader, SessionDep
from emergency.dependencies import RuntimeDep
from emergency.drills import service as drill_service
from emergency.idempotency import IdempotentDep
from emergency.rules import engine
from emergency.rules import prompts as prompt_service
from emergency.rules.models import OperatorPrompt
from emergency.rules.schemas import (
    ActionRun,
    Evaluated,
    PreviewIn,
    PromptPublic,
    ResolveIn,
    RulePublic,
    RulesPreview,
)
from emergency.signals import flows as signal_flows

router = APIRouter(prefix="/api/v1/rules", tags=["rules"])


@router.get("")
def get_rules(
    user: Reader, session: SessionDep, runtime: RuntimeDep, exercise: bool = False
) -> list[RulePublic]:
    """config/rules.yaml with each rule's state (active, how many times it fired)."""
    rules = engine.rules_public(session, runtime=runtime, exercise=exercise)
    return [RulePublic.model_validate(rule) for rule in rules]


@router.post("/preview")
def post_preview(
    body: PreviewIn, user: Reader, session: SessionDep, runtime: RuntimeDep
) -> RulesPreview:
    """The rules that would start or stop holding, and their actions, if these signals were in
    force: the engine's own plan, run with nothing written."""
    levels = engine.hypothetical_levels(
        session, runtime=runtime, signals=body.as_mapping(), replace=body.replace
    )
    return RulesPreview.model_validate(engine.preview(session, runtime=runtime, levels=levels))


@router.post("/evaluate")
def post_evaluate(
    user: Operator, session: SessionDep, runtime: RuntimeDep, once: IdempotentDep
) -> Evaluated:
    """Evaluate the rules against the signals in force now (after editing rules.yaml and
    restarting, say); an action already run is never run again."""
    return once.run(
        lambda: Evaluated.model_validate(
            {"actions": signal_flows.evaluate_rules(session, runtime=runtime)}
        )
    )


@router.get("/journal")
def get_journal(
    user: Reader,
    session: SessionDep,
    rule_id: str | None = None,
    limit: int = Query(200, ge=1, le=2000),
) -> list[ActionRun]:
    runs = engine.journal(session, rule_id=rule_id, limit=limit)
    return [ActionRun.model_validate(run) for run in runs]


@router.get("/prompts")
def get_prompts(
    user: Reader, session: SessionDep, status: str | None = "open"
) -> list[PromptPublic]:
    """What the duty operator must decide or do (`status=` open, done, dismissed, or empty
    for all)."""
    return [
        PromptPublic.model_validate(prompt_service.public(p))
        for p in prompt_service.list_prompts(session, status=status or None)
    ]


@router.post("/prompts/{prompt_id}/resolve")
def post_resolve(
    prompt_id: int, body: ResolveIn, user: Operator, session: SessionDep, once: IdempotentDep
) -> PromptPublic:
    def resolve() -> PromptPublic:
        drill_service.check_user_on(session, user, OperatorPrompt, prompt_id, "prompt")
        prompt = prompt_service.resolve(
            session, prompt_id=prompt_id, status=body.status, actor=user.name, note=body.note
        )
        return PromptPublic.model_validate(prompt_service.public(prompt))

    return once.run(resolve)
