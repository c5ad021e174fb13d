#!/usr/bin/env python3
"""Render an HTML report in headless Chromium and check what a reader would see.

    scripts/render-report.py REPORT.html [--screenshot OUT.png] [--expect-marks N]

Takes a screenshot (1200 px wide) and the DOM after layout, then prints one JSON line:
{"marks": <SVG elements with class "mark" in the rendered DOM>, "ink": <share of screenshot
pixels that are not the page background>, "width": W, "height": H}.
Exits 1 when the page is blank (ink below 0.5%) or, with --expect-marks, when the count differs;
2 when Chromium is missing. Uses only the standard library (the PNG is decoded with zlib).
"""
import argparse, json, os, re, shutil, struct, subprocess, sys, tempfile, zlib


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def run(browser, args, timeout=120):
    base = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--no-first-run", "--hide-scrollbars", "--user-data-dir=" + tempfile.mkdtemp(prefix="lr-chromium-")]
    return subprocess.run(base + args, capture_output=True, timeout=timeout)


def decode_png(data):
    """(width, height, rows of RGB tuples) for 8-bit RGB or RGBA PNGs."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, width = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            if depth != 8 or color not in (2, 6):
                raise ValueError(f"unsupported PNG (depth {depth}, color type {color})")
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous, i = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            upleft = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - upleft
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else upleft)) & 255
        rows.append(line)
        previous = line
    return width, height, channels, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report")
    parser.add_argument("--screenshot")
    parser.add_argument("--expect-marks", type=int)
    args = parser.parse_args()
    browser = chromium()
    if not browser:
        print("render-report: Chromium not found (apt-get install chromium)", file=sys.stderr)
        return 2
    url = "file://" + os.path.abspath(args.report)
    shot = args.screenshot or os.path.join(tempfile.mkdtemp(prefix="lr-shot-"), "report.png")
    run(browser, ["--window-size=1200,1600", "--screenshot=" + shot, url])
    dom = run(browser, ["--dump-dom", url]).stdout.decode("utf-8", "replace")
    marks = len(re.findall(r'<(?:rect|circle)[^>]*class="mark"', dom))
    width, height, channels, rows = decode_png(open(shot, "rb").read())
    background = tuple(rows[0][:3])
    ink = 0
    for line in rows:
        for x in range(0, width * channels, channels):
            if abs(line[x] - background[0]) + abs(line[x + 1] - background[1]) + abs(line[x + 2] - background[2]) > 30:
                ink += 1
    share = ink / float(width * height)
    print(json.dumps({"marks": marks, "ink": round(share, 4), "width": width, "height": height}))
    if share < 0.005:
        print("render-report: the screenshot is blank", file=sys.stderr)
        return 1
    if args.expect_marks is not None and marks != args.expect_marks:
        print(f"render-report: {marks} marks rendered, expected {args.expect_marks}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
