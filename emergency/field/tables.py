"""Every table of the field-operation domains (field, crews, evacuation, vulnerable,
facilities), imported by emergency/models.py in one line."""

from emergency.crews.models import Crew, CrewTask  # noqa: F401
from emergency.evacuation.models import EvacuationOrder, Movement, Shelter  # noqa: F401
from emergency.facilities.models import Facility, FacilityChange  # noqa: F401
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
from emergency.vulnerable.models import ResidentCheck, VulnerableResident  # noqa: F401
