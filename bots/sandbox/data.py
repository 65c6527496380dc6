"""The sandbox's data: 60 deterministic invoices, and their CSV and PDF renderings.

Everything is derived from the invoice index, so every server (and every test) sees the same rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

SUPPLIERS = (
    "Acme Supplies", "Globex GmbH", "Initech Ltd", "Umbrella Corp",
    "Stark Industries", "Wayne Enterprises", "Hooli Inc", "Vandelay Industries",
)
STATUSES = ("Paid", "Open", "Overdue")
PRODUCTS = (
    ("Printer paper, 5 boxes", Decimal("24.90")), ("Toner cartridge", Decimal("89.00")),
    ("Office chair", Decimal("249.00")), ("Consulting hour", Decimal("120.00")),
    ("Laptop stand", Decimal("39.50")), ("Cloud storage, 1 month", Decimal("15.00")),
    ("Cleaning service", Decimal("310.00")), ("Coffee beans, 1 kg", Decimal("18.75")),
)
INVOICE_COUNT = 60


class LineItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    description: str
    quantity: int
    unit_price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.unit_price * self.quantity


class Invoice(BaseModel):
    model_config = ConfigDict(frozen=True)

    number: str
    supplier: str
    date: dt.date
    due: dt.date
    status: str
    items: tuple[LineItem, ...]

    @property
    def total(self) -> Decimal:
        return sum((i.amount for i in self.items), Decimal("0"))

    @property
    def month(self) -> str:
        return self.date.strftime("%Y-%m")


def money(value: Decimal) -> str:
    """``1234.5`` -> ``1,234.50`` (what the pages show; extracts compare against this)."""
    return f"{value:,.2f}"


def _invoice(i: int) -> Invoice:
    # Small co-prime strides spread suppliers, dates and products without looking periodic.
    date = dt.date(2026, 1, 1) + dt.timedelta(days=(i * 3) % 180)
    items = tuple(
        LineItem(description=PRODUCTS[(i * 5 + k * 3) % len(PRODUCTS)][0],
                 quantity=1 + (i + k * 7) % 4,
                 unit_price=PRODUCTS[(i * 5 + k * 3) % len(PRODUCTS)][1])
        for k in range(1 + i % 3)
    )
    return Invoice(number=f"INV-{1001 + i}", supplier=SUPPLIERS[(i * 3) % len(SUPPLIERS)], date=date,
                   due=date + dt.timedelta(days=30), status=STATUSES[(i * 7) % 3 if i % 4 else 0], items=items)


@lru_cache(maxsize=1)
def invoices() -> tuple[Invoice, ...]:
    """All invoices, newest number last."""
    return tuple(_invoice(i) for i in range(INVOICE_COUNT))


def find_invoice(number: str) -> Invoice | None:
    wanted = number.strip().upper()
    return next((inv for inv in invoices() if inv.number == wanted), None)


def months() -> list[str]:
    return sorted({inv.month for inv in invoices()})


def search(query: str = "", month: str = "") -> list[Invoice]:
    """Case-insensitive match on number or supplier, optionally limited to one ``YYYY-MM``."""
    q = query.strip().lower()
    return [inv for inv in invoices()
            if (not q or q in inv.number.lower() or q in inv.supplier.lower())
            and (not month or inv.month == month)]


def invoice_csv(inv: Invoice) -> bytes:
    rows = ["invoice,supplier,date,description,quantity,unit_price,amount"]
    for item in inv.items:
        rows.append(f'{inv.number},"{inv.supplier}",{inv.date},"{item.description}",{item.quantity},'
                    f"{item.unit_price:.2f},{item.amount:.2f}")
    rows.append(f'{inv.number},"{inv.supplier}",{inv.date},"Total",,,{inv.total:.2f}')
    return ("\n".join(rows) + "\n").encode()


def _pdf_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def invoice_pdf(inv: Invoice) -> bytes:
    """A one-page PDF 1.4 with the invoice as text (Helvetica, no compression), built by hand."""
    lines = [f"Invoice {inv.number}", f"Supplier: {inv.supplier}", f"Date: {inv.date}  Due: {inv.due}",
             f"Status: {inv.status}", ""]
    lines += [f"{i.quantity} x {i.description} @ {i.unit_price:.2f} = {i.amount:.2f}" for i in inv.items]
    lines += ["", f"Total: {money(inv.total)} EUR"]
    ops = ["BT", "/F1 12 Tf", "14 TL", "72 770 Td"] + [f"({_pdf_text(t)}) '" for t in lines] + ["ET"]
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{off:010d} 00000 n \n".encode() for off in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
