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
from emergency.alarms.models import Alarm  # noqa: F401
from emergency.audit.models import AuditEntry  # noqa: F401
from emergency.auth.models import ApiToken, User  # noqa: F401
from emergency.auth.sessions.models import LoginSession, PasswordLink, UserPassword  # noqa: F401
from emergency.cap.models import CapPublished, CapReceived  # noqa: F401
from emergency.crews.models import Crew, CrewTask  # noqa: F401
from emergency.db import SequenceCounter  # noqa: F401
from emergency.dispatch.status import DispatchDegraded  # noqa: F401
from emergency.drills.models import DrillUser  # noqa: F401
from emergency.evacuation.models import EvacuationOrder, Movement, Shelter  # noqa: F401
from emergency.events.models import Event  # noqa: F401
from emergency.facilities.models import Facility, FacilityChange  # noqa: F401
from emergency.feeds.models import FeedLink, FeedState  # noqa: F401
from emergency.field.models import (  # noqa: F401
    FieldAccount,
    FieldReport,
    FieldTotal,
    Hazard,
    HelpRequest,
    InspectionGroup,
    PatrolTrip,
    Photo,
)
from emergency.idempotency import IdempotencyRecord  # noqa: F401
from emergency.liaison.models import (  # noqa: F401
    HotlineCall,
    LiaisonContact,
    LiaisonNotice,
    NoticeRecipient,
)
from emergency.liveness import SchedulerLease  # noqa: F401
from emergency.rules.models import OperatorPrompt, RuleActionRun, RuleState  # noqa: F401
from emergency.scheduler import ScheduledJob  # noqa: F401
from emergency.signals.models import ActiveSignal, SignalChange  # noqa: F401
from emergency.vulnerable.models import ResidentCheck, VulnerableResident  # noqa: F401
