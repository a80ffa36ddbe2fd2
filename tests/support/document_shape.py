"""What a person sees of a QTextDocument, as data: each block's text and what kind of block
it is (list item and its number, heading, code, table cell, quote indent, formula images).

Two documents with the same shape read the same; tests compare shapes, not HTML strings.
"""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtGui import QTextBlock, QTextCursor, QTextDocument, QTextFormat


class Block(NamedTuple):
    text: str
    list_style: str  # "" when not a list item
    list_number: int  # the number or bullet position shown (0 when not a list item)
    list_indent: int
    heading: int
    indent: int
    in_table: bool  # code blocks and tables are tables
    images: tuple[str, ...]  # image names (formulas: "math:<key>")


def _images(block: QTextBlock) -> tuple[str, ...]:
    names = []
    it = block.begin()
    while not it.atEnd():
        fmt = it.fragment().charFormat()
        if fmt.isImageFormat():
            names.append(fmt.toImageFormat().name())
        it += 1
    return tuple(names)


def shape(doc: QTextDocument) -> list[Block]:
    out = []
    block = doc.begin()
    while block.isValid():
        lst = block.textList()
        fmt = block.blockFormat()
        out.append(
            Block(
                text=block.text(),
                list_style=lst.format().style().name if lst else "",
                list_number=(lst.itemNumber(block) + lst.format().start()) if lst else 0,
                list_indent=lst.format().indent() if lst else 0,
                heading=fmt.headingLevel(),
                indent=fmt.indent() + int(fmt.property(QTextFormat.Property.BlockQuoteLevel) or 0),
                in_table=QTextCursor(block).currentTable() is not None,
                images=_images(block),
            )
        )
        block = block.next()
    return out


def visible_text(doc: QTextDocument) -> str:
    """The document's text as a person reads it (list markers and formulas are drawn)."""
    return doc.toPlainText()
