"""Pictures with text in them, rendered here: signs on real photos, receipts and screenshots on
plain backgrounds, at chosen sizes, fonts, angles and contrasts (tests and benchmarks share it)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONTS = [
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"),
    Path("/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"),
]


def font(size: int, number: int = 0) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    available = [path for path in FONTS if path.is_file()]
    if not available:
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(available[number % len(available)]), size)


def render(
    lines: list[str],
    size: int = 32,
    background: Image.Image | None = None,
    angle: float = 0.0,
    ink: tuple[int, int, int] = (20, 20, 20),
    paper: tuple[int, int, int] = (250, 250, 245),
    font_number: int = 0,
    at: tuple[float, float] = (0.1, 0.1),
    canvas: tuple[int, int] = (1200, 800),
) -> Image.Image:
    """``lines`` on a card (``paper``) placed on ``background`` (or a plain canvas), turned by ``angle`` degrees."""
    face = font(size, font_number)
    width = int(max(face.getlength(line) for line in lines)) + size
    height = int(len(lines) * size * 1.5) + size
    card = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(card)
    for number, line in enumerate(lines):
        draw.text((size // 2, size // 2 + int(number * size * 1.5)), line, font=face, fill=ink)
    if angle:
        card = card.rotate(angle, expand=True, fillcolor=paper, resample=Image.Resampling.BICUBIC)
    picture = background.convert("RGB").copy() if background is not None else Image.new("RGB", canvas, paper)
    if card.width > picture.width or card.height > picture.height:
        card.thumbnail((picture.width, picture.height))
    left = min(int(picture.width * at[0]), picture.width - card.width)
    top = min(int(picture.height * at[1]), picture.height - card.height)
    picture.paste(card, (left, top))
    return picture
