"""Credits: each user's balance per kind (`read.credit_balances`) and every change to it
(`read.credit_transactions`): `GET /credits/balance` and `GET /credits/history`.

A transaction row is written by the same statement that changes the balance, and its per-kind
change is measured on the balance row itself (after minus before), so the history always adds
up to the balance, whatever the event. The balance is the ledger's at its last event: what
time alone changed since (a new UTC day, an ended billing period) is derived when it is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from uuid import UUID

from eventsourcing.dispatch import singledispatchmethod
from psycopg.sql import SQL, Composed, Identifier

from aggregates.credit_ledger import SPEND_ORDER, CreditLedger
from projections.base import ReadModelProjection, ReadModelView, ViewSession
from projections.cursors import cut_page, decode_cursor

BALANCE_COLUMNS = (
    "user_id, daily, daily_day, subscription, subscription_until, purchased, kickstart, total,"
    " version, updated_at, last_position"
)
TRANSACTION_COLUMNS = (
    "position, occurred_at, kind, credit_kind, daily, subscription, purchased, kickstart, amount,"
    " reason, reference, spend_id, day, period_end, carried_over, expired, balance_after"
)
# What a transaction row says beyond its per-kind changes; None where it does not apply.
DETAILS = ("reason", "reference", "spend_id", "day", "period_end", "carried_over", "expired")
ORDER = "-position"


@dataclass(frozen=True)
class TransactionPage:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    position: int


class CreditsView(ReadModelView):
    projection_name: ClassVar[str] = "credits"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        balances, transactions = self.table("credit_balances"), self.table("credit_transactions")
        self.balances_table, self.transactions_table = balances, transactions
        kinds = "".join(f" {kind} integer NOT NULL DEFAULT 0," for kind in SPEND_ORDER)
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " user_id uuid PRIMARY KEY,"
                " ledger_id uuid NOT NULL UNIQUE,"
                f"{kinds}"
                " daily_day date,"
                " subscription_until timestamptz,"
                f" total integer GENERATED ALWAYS AS ({' + '.join(SPEND_ORDER)}) STORED,"
                " version integer NOT NULL,"
                " updated_at timestamptz NOT NULL,"
                " last_position bigint NOT NULL)"
            ).format(balances)
        )
        self.sql_create_statements.append(
            SQL(
                "CREATE TABLE IF NOT EXISTS {} ("
                " position bigint PRIMARY KEY,"
                " user_id uuid NOT NULL,"
                " occurred_at timestamptz NOT NULL,"
                " event_type text NOT NULL,"
                " kind text NOT NULL,"
                " credit_kind text,"
                f"{kinds}"
                " amount integer NOT NULL,"
                " reason text,"
                " reference text,"
                " spend_id uuid,"
                " day date,"
                " period_end timestamptz,"
                " carried_over integer,"
                " expired integer,"
                " balance_after integer NOT NULL)"
            ).format(transactions)
        )
        self.sql_create_statements.append(
            SQL("CREATE INDEX IF NOT EXISTS {} ON {} (user_id, position)").format(
                Identifier("credit_transactions_user_idx"), transactions
            )
        )
        self._open = SQL(
            "INSERT INTO {} (user_id, ledger_id, version, updated_at, last_position)"
            " VALUES (%s, %s, %s, %s, %s)"
        ).format(balances)
        # Most events move balances by an amount; two set one outright, as the ledger does.
        self._move = self._change(
            ", ".join(f"{kind} = b.{kind} + %({kind})s" for kind in SPEND_ORDER)
        )
        self._grant_daily = self._change("daily = %(daily)s, daily_day = %(day)s::date")
        self._grant_subscription = self._change(
            "subscription = %(subscription)s, subscription_until = %(period_end)s"
        )
        self._balance = SQL("SELECT {} FROM {} WHERE user_id = %s").format(
            SQL(BALANCE_COLUMNS), balances
        )
        listing = (
            "SELECT {columns} FROM {table} WHERE user_id = %(user_id)s {after}"
            " ORDER BY position DESC LIMIT %(limit)s"
        )
        self._first_page = SQL(listing).format(
            columns=SQL(TRANSACTION_COLUMNS), table=transactions, after=SQL("")
        )
        self._next_page = SQL(listing).format(
            columns=SQL(TRANSACTION_COLUMNS),
            table=transactions,
            after=SQL("AND position < %(after)s"),
        )

    def _change(self, assignments: str) -> Composed:
        """One statement: change the ledger's balance row and record the change it made."""
        kinds = ", ".join(f"b.{kind} - before.{kind} AS {kind}" for kind in SPEND_ORDER)
        return SQL(
            "WITH before AS (SELECT * FROM {balances} WHERE ledger_id = %(ledger_id)s),"
            " after AS ("
            "  UPDATE {balances} AS b SET {assignments}, version = %(version)s,"
            "  updated_at = %(at)s, last_position = %(position)s"
            "  FROM before WHERE b.user_id = before.user_id"
            "  RETURNING b.user_id, b.total, {kinds})"
            " INSERT INTO {transactions} (position, user_id, occurred_at, event_type, kind,"
            " credit_kind, {kind_columns}, amount, {details}, balance_after)"
            " SELECT %(position)s, user_id, %(at)s, %(event_type)s, %(kind)s, %(credit_kind)s,"
            " {kind_columns}, {amount}, {detail_params}, total FROM after"
        ).format(
            balances=self.balances_table,
            transactions=self.transactions_table,
            assignments=SQL(assignments),
            kinds=SQL(kinds),
            kind_columns=SQL(", ".join(SPEND_ORDER)),
            amount=SQL(" + ".join(SPEND_ORDER)),
            details=SQL(", ".join(DETAILS)),
            detail_params=SQL(", ".join(f"%({detail})s" for detail in DETAILS)),
        )

    # -- writes (inside a projection session) -------------------------------------------------

    def open(self, session: ViewSession, row: tuple[Any, ...]) -> None:
        session.execute(self._open, (*row, session.position))

    def move(
        self,
        session: ViewSession,
        event: CreditLedger.Event,
        change: Mapping[str, int],
        **transaction: Any,
    ) -> None:
        """Add `change` (signed, per kind) to the balances; `transaction` says what it was:
        `kind`, `credit_kind` and details."""
        amounts = {kind: change.get(kind, 0) for kind in SPEND_ORDER}
        self._record(session, self._move, event, {**amounts, **transaction})

    def grant_daily(self, session: ViewSession, event: CreditLedger.DailyGranted) -> None:
        self._record(
            session,
            self._grant_daily,
            event,
            {"daily": event.amount, "kind": "grant", "credit_kind": "daily", "day": event.day},
        )

    def grant_subscription(
        self, session: ViewSession, event: CreditLedger.SubscriptionCreditsGranted
    ) -> None:
        self._record(
            session,
            self._grant_subscription,
            event,
            {
                # Unused credits carried over, the rest expired: the balance is set, not added to.
                "subscription": event.carried_over + event.amount,
                "kind": "grant",
                "credit_kind": "subscription",
                "reference": event.reference,
                "period_end": event.period_end,
                "carried_over": event.carried_over,
                "expired": event.expired,
            },
        )

    def _record(
        self,
        session: ViewSession,
        statement: Composed,
        event: CreditLedger.Event,
        params: dict[str, Any],
    ) -> None:
        session.execute(
            statement,
            {
                **dict.fromkeys(DETAILS),
                "credit_kind": None,
                **params,
                "ledger_id": event.originator_id,
                "version": event.originator_version,
                "at": event.timestamp,
                "position": session.position,
                "event_type": type(event).__qualname__,
            },
        )

    # -- reads --------------------------------------------------------------------------------

    def balance(self, user_id: UUID, application_name: str) -> tuple[dict[str, Any] | None, int]:
        """The user's balance row as of the ledger's last event (None: no ledger yet)."""
        with self.snapshot() as cursor:
            row = cursor.execute(self._balance, (user_id,)).fetchone()
            position = self.position_in(cursor, application_name)
        return row, position

    def history(
        self, user_id: UUID, application_name: str, *, cursor: str | None, limit: int
    ) -> TransactionPage:
        """The user's transactions, newest first, a page at a time."""
        params: dict[str, Any] = {"user_id": user_id, "limit": limit + 1}
        statement = self._first_page
        if cursor is not None:
            params["after"], _ = decode_cursor(ORDER, cursor, int)
            statement = self._next_page
        with self.snapshot() as snapshot:
            rows = snapshot.execute(statement, params).fetchall()
            position = self.position_in(snapshot, application_name)
        rows, next_cursor = cut_page(rows, limit, ORDER, "position", row_id=None)
        return TransactionPage(rows=rows, next_cursor=next_cursor, position=position)


class CreditsProjection(ReadModelProjection[CreditsView]):
    name = "credits"

    @singledispatchmethod
    def apply(self, domain_event: Any, session: ViewSession) -> None:
        """Only the credit ledger shows here."""

    @apply.register
    def credit_ledger_opened(self, event: CreditLedger.Opened, session: ViewSession) -> None:
        self.view.open(
            session, (event.user_id, event.originator_id, event.originator_version, event.timestamp)
        )

    @apply.register
    def credit_ledger_kickstart_granted(
        self, event: CreditLedger.KickstartGranted, session: ViewSession
    ) -> None:
        self.view.move(
            session, event, {"kickstart": event.amount}, kind="grant", credit_kind="kickstart"
        )

    @apply.register
    def credit_ledger_daily_granted(
        self, event: CreditLedger.DailyGranted, session: ViewSession
    ) -> None:
        self.view.grant_daily(session, event)

    @apply.register
    def credit_ledger_daily_expired(
        self, event: CreditLedger.DailyExpired, session: ViewSession
    ) -> None:
        self.view.move(
            session,
            event,
            {"daily": -event.amount},
            kind="expiry",
            credit_kind="daily",
            day=event.day,
        )

    @apply.register
    def credit_ledger_subscription_credits_granted(
        self, event: CreditLedger.SubscriptionCreditsGranted, session: ViewSession
    ) -> None:
        self.view.grant_subscription(session, event)

    @apply.register
    def credit_ledger_subscription_credits_expired(
        self, event: CreditLedger.SubscriptionCreditsExpired, session: ViewSession
    ) -> None:
        self.view.move(
            session,
            event,
            {"subscription": -event.amount},
            kind="expiry",
            credit_kind="subscription",
            period_end=event.period_end,
        )

    @apply.register
    def credit_ledger_credits_purchased(
        self, event: CreditLedger.CreditsPurchased, session: ViewSession
    ) -> None:
        self.view.move(
            session,
            event,
            {"purchased": event.amount},
            kind="grant",
            credit_kind="purchased",
            reference=event.reference,
        )

    @apply.register
    def credit_ledger_credits_spent(
        self, event: CreditLedger.CreditsSpent, session: ViewSession
    ) -> None:
        taken = {kind: -amount for kind, amount in event.split.items()}
        self.view.move(
            session, event, taken, kind="spend", reason=event.reason, spend_id=event.spend_id
        )

    @apply.register
    def credit_ledger_credits_refunded(
        self, event: CreditLedger.CreditsRefunded, session: ViewSession
    ) -> None:
        self.view.move(
            session,
            event,
            event.split,
            kind="refund",
            reason=event.reason,
            spend_id=event.spend_id,
        )
