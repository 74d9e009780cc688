"""The catalogue of log event names: stable, dotted, values go in fields (never message bodies at INFO)."""

DAEMON_STARTED = "daemon.started"
DAEMON_STOPPING = "daemon.stopping"
DAEMON_STOPPED = "daemon.stopped"
CONFIG_INVALID = "config.invalid"
DB_MIGRATED = "db.migrated"
DEMO_PASSWORD_CREATED = "auth.demo_password.created"
SECRET_KEY_CREATED = "auth.secret_key.created"
LOGIN_OK = "auth.login.ok"
LOGIN_FAILED = "auth.login.failed"
AUTH_THROTTLED = "auth.throttled"
AUTH_CROSS_SITE = "auth.cross_site.refused"
AUTH_SESSION_ENDED = "auth.session.ended"
AUTH_SESSION_CHECK_FAILED = "auth.session.check_failed"
CONSOLE_ORIGIN_REFUSED = "console.origin.refused"
UPLOADS_SWEPT = "uploads.swept"
HTTP_CONNECTION_REFUSED = "http.connection.refused"
HTTP_BAD_REQUEST = "http.request.bad"
METRICS_REFUSED = "metrics.refused"
ENGINE_BATCH_RETRY = "engine.batch.retry"
ENGINE_BATCH_FAILED = "engine.batch.failed"
ENGINE_RESUMED = "engine.resumed"
OUTBOX_REPUBLISHED = "outbox.republished"
DIALOG_OPENED = "dialog.opened"
DIALOG_OFFERED = "dialog.offered"
DIALOG_ASSIGNED = "dialog.assigned"
DIALOG_QUEUED = "dialog.queued"
DIALOG_TRANSFERRED = "dialog.transferred"
DIALOG_CLOSED = "dialog.closed"
DIALOG_REOPENED = "dialog.reopened"
DIALOG_INVITED = "dialog.invited"
DIALOG_LEFT = "dialog.left"
DIALOG_RATED = "dialog.rated"  # the customer rated the answer (stored on the dialog)
RATING_REFUSED = "dialog.rating.refused"  # a rating not taken: another's dialog, off the scale, too late
COMMAND_REFUSED = "operator.command.refused"
PRESENCE_CHANGED = "operator.presence.changed"
CONSOLE_CONNECTED = "console.connected"
CONSOLE_DISCONNECTED = "console.disconnected"
CONSOLE_BAD_FRAME = "console.frame.refused"
CONSOLE_STALLED = "console.send.stalled"
# logged by connectors/widget.py under these names (connectors cannot import router/, so they repeat them)
WIDGET_CONNECTED = "widget.connected"
WIDGET_DISCONNECTED = "widget.disconnected"
WIDGET_BAD_FRAME = "widget.frame.refused"
WIDGET_BAD_TOKEN = "widget.token.refused"
WIDGET_ORIGIN_REFUSED = "widget.origin.refused"
WIDGET_FLOOD_THROTTLED = "widget.flood.throttled"
WIDGET_FLOOD_CLOSED = "widget.flood.closed"
WIDGET_SEND_STALLED = "widget.send.stalled"
WIDGET_PUBLISH_FAILED = "widget.publish.failed"
# the shared allowances (Redis) could not be asked: refused, sent again
WIDGET_LIMITS_FAILED = "widget.limits.failed"

# the composition root and the dispatchers
CHANNEL_STARTED = "channel.started"
CHANNEL_FAILED = "channel.failed"
CHANNEL_FILES_FAILED = "channel.files.failed"  # a web process could not open a channel to fetch its files
FILES_FETCH_FAILED = "files.fetch.failed"  # a customer's file could not be fetched from its channel (502)
OUTBOUND_SENT = "outbound.sent"
OUTBOUND_FAILED = "outbound.failed"
OUTBOUND_TYPING_FAILED = "outbound.typing.failed"  # a channel could not show that an operator is typing
LOOP_CRASHED = "loop.crashed"
DEAL_JOINED = (
    "deal.joined"  # a dialog on a line that creates deals joined its customer's deal (new: made for it)
)
DEAL_LINK_FAILED = "deal.link.failed"  # could not give a dialog its deal (retried when the store is away)
TASKS_STUCK = (
    "tasks.stuck"  # tasks that did not end when cancelled again and again (a stop goes on without them)
)
BUS_TRIMMED = "bus.trimmed"
BUS_TRIM_FAILED = "bus.trim.failed"
ENGINE_DEAD_LETTER = "engine.dead_letter"
ENGINE_PARTITIONS = "engine.partitions.changed"
ENGINE_HOLDS_SWEPT = "engine.holds.swept"
# a web process could not renew where operators' consoles are open
CONSOLE_TABS_FAILED = "console.tabs.failed"
ENGINE_WAITING_SYNC_FAILED = "engine.waiting.sync_failed"  # the shared queue order could not be updated
ENGINE_TICK_FAILED = "engine.tick.failed"
OUTBOX_PUBLISH_FAILED = "outbox.publish.failed"
IDENTITY_JOINED = "crm.identity.joined"
# logged by connectors/telegram*.py (connectors cannot import router/, so they repeat the names)
TELEGRAM_EVENTS = (
    "telegram.api.down",
    "telegram.bot.refused",
    "telegram.file.failed",
    "telegram.file.refused",
    "telegram.group.ignored",
    "telegram.loop.crashed",
    "telegram.polling.recovered",
    "telegram.polling.started",
    "telegram.token.refused",
    "telegram.update.abandoned",
    "telegram.update.not_stored",
    "telegram.update.service",
    "telegram.update.unsupported",
    "telegram.webhook.bad_update",
    "telegram.webhook.delete_failed",
    "telegram.webhook.refused",
    "telegram.webhook.set",
    "telegram.webhook.timeout",
)
# logged by connectors/email/ (connectors cannot import router/, so they repeat the names)
EMAIL_EVENTS = (
    "email.imap.connected",
    "email.imap.failed",
    "email.imap.new_folder",
    "email.loop.crashed",
    "email.mail.acknowledged",
    "email.mail.own",
    "email.mail.published",
    "email.mail.refused",
    "email.mail.unreadable",
    "email.mailbox.refused",
)
# logged by connectors/widget*.py (connectors cannot import router/, so they repeat them)
WIDGET_LINE_UNKNOWN = "widget.line.unknown"  # a page asked for a line with no widget channel: refused
WIDGET_FILE_REFUSED = (
    "widget.file.refused"  # a file link forged, expired, from another site or another visitor
)
WIDGET_FILE_MISSING = (
    "widget.file.missing"  # an operator's file is not in the attachment store: the send fails
)
