"""Regenerate the binary sample documents of the inbox (a PDF and a DOCX) from the text below.

Usage: python scripts/make_samples.py  (needs pymupdf and python-docx)
"""

from __future__ import annotations

from pathlib import Path

import pymupdf
from docx import Document

INBOX = Path(__file__).resolve().parent.parent / "inbox"

MANUAL = [
    ("Aurora 3000 Espresso Machine: Service Manual", [
        ("Descaling", "Descale the Aurora 3000 every 200 shots or once a month, whichever comes "
         "first. Dissolve one sachet of citric acid descaler in one litre of warm water, pour it "
         "into the reservoir and run the descaling programme by holding the steam and hot-water "
         "buttons together for five seconds. Rinse the reservoir and run two full tanks of fresh "
         "water through the machine afterwards."),
    ]),
    ("Error codes", [
        ("E1: low pressure", "Error E1 means the pump could not build nine bar of pressure. The "
         "usual cause is a clogged group-head screen. Remove the screen with a flat screwdriver "
         "and soak it in hot water with a little detergent."),
        ("E4: boiler temperature", "Error E4 means the boiler thermostat reports a temperature "
         "above 135 degrees Celsius. Switch the machine off, let it cool for thirty minutes and "
         "contact an authorised service centre if the error returns."),
    ]),
    ("Warranty", [
        ("Coverage", "The warranty covers manufacturing defects for two years from the date of "
         "purchase. Damage caused by limescale is not covered when the machine has not been "
         "descaled as described in this manual."),
    ]),
]


def make_pdf(path: Path) -> None:
    document = pymupdf.open()
    for page_number, (chapter, sections) in enumerate(MANUAL, start=1):
        page = document.new_page()
        page.insert_text((72, 40), "Aurora 3000 Service Manual - Confidential", fontsize=8)
        y = 90.0
        page.insert_text((72, y), chapter, fontsize=18, fontname="hebo")
        y += 36
        for title, body in sections:
            page.insert_text((72, y), title, fontsize=13, fontname="hebo")
            y += 22
            rect = pymupdf.Rect(72, y, 520, y + 160)
            page.insert_textbox(rect, body, fontsize=10.5, fontname="helv")
            y += 170
        page.insert_text((72, 800), f"Page {page_number} of {len(MANUAL)}", fontsize=8)
    document.save(path)


def make_docx(path: Path) -> None:
    document = Document()
    document.add_heading("Postmortem: checkout database outage", level=1)
    document.add_paragraph(
        "On 3 March the checkout service was unavailable for 47 minutes because the primary "
        "PostgreSQL database ran out of disk space. Write-ahead log files accumulated after a "
        "replication slot for a decommissioned replica was never dropped."
    )
    document.add_heading("Timeline", level=2)
    document.add_paragraph("09:12 disk usage alert fired; 09:20 checkout errors began; "
                           "09:51 the stale replication slot was dropped; 10:07 service restored.")
    document.add_heading("Action items", level=2)
    document.add_paragraph("Alert on replication slot lag above 10 GB.", style="List Bullet")
    document.add_paragraph("Add a runbook step to drop slots when decommissioning replicas.",
                           style="List Bullet")
    document.save(str(path))


if __name__ == "__main__":
    make_pdf(INBOX / "operations" / "aurora-3000-service-manual.pdf")
    make_docx(INBOX / "operations" / "checkout-outage-postmortem.docx")
