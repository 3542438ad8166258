"""What pypdf finds in the font dictionaries of a written PDF: the check that a figure embeds
every font as TrueType (Type 42) and none as Type 3."""

from __future__ import annotations

from pathlib import Path

from pypdf import PdfReader

# sfnt versions of a font file with TrueType (glyf) outlines; b"OTTO" would mean CFF outlines.
_TRUETYPE_SFNT = (b"\x00\x01\x00\x00", b"true")


def non_truetype_fonts(path: Path) -> list[str]:
    """Every font of every page of the PDF at ``path`` that is not an embedded TrueType font,
    as ``"<name>: <why>"``; empty when all are. A PDF without fonts is reported too, so a check
    that finds nothing to check fails."""
    problems, seen = [], 0
    for page in PdfReader(path).pages:
        fonts = page["/Resources"].get("/Font", {})
        for name, reference in fonts.items():
            seen += 1
            font = reference.get_object()
            if font["/Subtype"] == "/Type0":
                font = font["/DescendantFonts"][0].get_object()
                expected = "/CIDFontType2"
            else:
                expected = "/TrueType"
            label = f"{name} {font.get('/BaseFont', '')}"
            if font["/Subtype"] != expected:
                problems.append(f"{label}: subtype {font['/Subtype']}, not {expected}")
                continue
            descriptor = font["/FontDescriptor"].get_object()
            if "/FontFile2" not in descriptor:
                problems.append(f"{label}: no embedded TrueType file (FontFile2)")
                continue
            head = descriptor["/FontFile2"].get_object().get_data()[:4]
            if head not in _TRUETYPE_SFNT:
                problems.append(f"{label}: embedded file starts {head!r}, not TrueType outlines")
    if not seen:
        problems.append("no fonts at all")
    return problems
