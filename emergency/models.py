"""Every table of the service, imported in one place so SQLModel.metadata is complete
(Alembic's env.py and the tests use it)."""

from alerts.models import (  # noqa: F401
    Broadcast,
    Message,
    PendingReceipt,
    PushSubscription,
    PushVapidKey,
    Subscriber,
)
from emergency.audit.models import AuditEntry  # noqa: F401
from emergency.auth.models import ApiToken, User  # noqa: F401
from emergency.cap.tables import CapPublished, CapReceived  # noqa: F401
from emergency.db import SequenceCounter  # noqa: F401
from emergency.events.models import Event  # noqa: F401
from emergency.feeds.models import FeedState  # noqa: F401
from emergency.field.tables import *  # noqa: F401,F403  (field operations)
from emergency.liaison.models import (  # noqa: F401
    HotlineCall,
    LiaisonContact,
    LiaisonNotice,
    NoticeRecipient,
)
from emergency.rules.models import OperatorPrompt, RuleActionRun, RuleState  # noqa: F401
from emergency.signals.models import ActiveSignal, SignalChange  # noqa: F401
