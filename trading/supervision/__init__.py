"""Supervision online (电子监察, RULES S4): alerts raised by any package when something looks
wrong or a step is overdue, the watch over every deadline the rules set, and the acts of the
supervisors who work with the alerts.

- ``model``: alerts, their states and acts, the watched step, the settings;
- ``rules``: the catalogue of watched steps and the alert's transition table (pure);
- ``store``: the SQL;
- ``service``: ``raise_alert``, ``overdue`` (the one way an overdue step raises its one
  alert), ``step_done``, the supervisor's ``act``, the watch's ``sweep``;
- ``abuse``: the limit on refused requests and their aggregate audit (pure).
"""

from trading.supervision.service import list_alerts, overdue, raise_alert, step_done

__all__ = ["list_alerts", "overdue", "raise_alert", "step_done"]
