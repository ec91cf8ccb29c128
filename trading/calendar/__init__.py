"""The calendar of timed events: PostgreSQL holds every scheduled time; the scheduler wakes
what is due, once, and records when it actually ran."""

from trading.calendar.events import EventContext, EventRegistry, TimedEvent, cancel, schedule
from trading.calendar.scheduler import Scheduler

__all__ = ["EventContext", "EventRegistry", "Scheduler", "TimedEvent", "cancel", "schedule"]
