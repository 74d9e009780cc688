"""Pure decisions: dialog state machine, distribution, business hours, auto-replies, fairness, access. No I/O, no clock reads."""
