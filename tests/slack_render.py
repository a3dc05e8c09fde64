"""What the Slack-compatible sink received, drawn as a channel: an HTML page for the browser
tests to screenshot, since the real Slack is outside this network. Not Slack's renderer: it
draws the Block Kit that ORC AI sends (header, section with text and fields, context,
divider, actions) and the mrkdwn in it (*bold*, _italic_, ~strike~, `code`, <url|links>,
:emoji: as a symbol), with bot messages edited in place by `chat.update` and replies in their thread,
as Slack shows them. No maintained offline Block Kit renderer exists for Python (a Rust
crate and a Storybook addon do), so this is ours, and the page says so.
"""

from __future__ import annotations

import html
import re

# The emoji ORC AI's messages use (orcai/alerts/messages.py), as a symbol and colour the
# test machines' fonts have (no colour-emoji font here); any other stays as its :name:.
EMOJI = {"dart": ("◎", "#d0021b"), "grey_question": ("?", "#888"), "large_orange_circle": ("●", "#f5a623"),
         "no_entry": ("⊘", "#d0021b"), "red_circle": ("●", "#d0021b"), "robot_face": ("⚙", "#666"),
         "rotating_light": ("●", "#d0021b"), "test_tube": ("⚗", "#666"), "warning": ("⚠", "#e8a100"),
         "white_check_mark": ("✔", "#2eb67d"), "white_circle": ("○", "#888"), "x": ("✖", "#d0021b")}

_LINK = re.compile(r"<([^<>|\s]+)(?:\|([^<>]+))?>")
_CODE = re.compile(r"`([^`\n]+)`")
_STYLES = [(re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), "b"),
           (re.compile(r"(?<![\w_])_(?!\s)(.+?)(?<!\s)_(?![\w_])"), "i"),
           (re.compile(r"(?<![\w~])~(?!\s)(.+?)(?<!\s)~(?![\w~])"), "s")]
_EMOJI = re.compile(r":([a-z0-9_+-]+):")

STYLE = """
body { font: 15px/1.46 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #1d1c1d; margin: 0; background: #fff; }
.banner { background: #fdf6e3; border-bottom: 1px solid #e8dcb5; padding: 6px 20px; font-size: 13px; color: #6b5b2a; }
.channel { padding: 8px 20px; border-bottom: 1px solid #ddd; font-weight: 900; font-size: 18px; }
.message { display: flex; gap: 8px; padding: 8px 20px; }
.avatar { width: 36px; height: 36px; border-radius: 6px; background: #4a154b; color: #fff; flex: none;
          display: flex; align-items: center; justify-content: center; font-weight: 700; }
.who { font-weight: 900; } .app { font-size: 11px; background: #ddd; border-radius: 3px; padding: 0 3px; color: #555; }
.when, .edited { color: #616061; font-size: 12px; }
.header { font-weight: 900; font-size: 18px; margin: 4px 0; }
.section { margin: 4px 0; } .fields { display: grid; grid-template-columns: 1fr 1fr; gap: 4px 16px; }
.context { color: #616061; font-size: 13px; margin: 4px 0; }
hr { border: 0; border-top: 1px solid #ddd; margin: 8px 0; }
code { font: 12px Monaco, Menlo, Consolas, monospace; color: #c01343; background: #f6f6f6;
       border: 1px solid #ddd; border-radius: 3px; padding: 0 3px; }
a { color: #1264a3; text-decoration: none; }
.button { display: inline-block; border: 1px solid #bbb; border-radius: 4px; padding: 2px 10px; margin-right: 6px;
          font-weight: 700; font-size: 13px; }
.thread { margin: 0 20px 8px 64px; border-left: 3px solid #ddd; padding-left: 8px; }
.thread-label { color: #1264a3; font-size: 13px; font-weight: 700; margin: 0 0 4px 0; }
"""


def mrkdwn(text: str) -> str:
    """Slack mrkdwn → HTML. Links and code are set aside first, so neither is styled inside."""
    kept: list[str] = []

    def keep(fragment: str) -> str:
        kept.append(fragment)
        return f"\x00{len(kept) - 1}\x00"

    text = _LINK.sub(lambda m: keep(_anchor(m.group(1), m.group(2))), text)
    text = _CODE.sub(lambda m: keep(f"<code>{html.escape(html.unescape(m.group(1)))}</code>"), text)
    text = html.escape(html.unescape(text), quote=False)  # Slack's text escapes &, < and > itself
    for pattern, tag in _STYLES:
        text = pattern.sub(lambda m, tag=tag: f"<{tag}>{m.group(1)}</{tag}>", text)
    text = _emoji(text).replace("\n", "<br>")
    return re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], text)


def _anchor(url: str, label: str | None) -> str:
    shown = html.escape(html.unescape(label or url), quote=False)
    return f'<a href="{html.escape(html.unescape(url))}">{shown}</a>'


def _text(obj: dict | None) -> str:
    if not obj:
        return ""
    if obj.get("type") == "mrkdwn":
        return mrkdwn(obj.get("text", ""))
    return _emoji(html.escape(obj.get("text", ""), quote=False))


def _emoji(text: str) -> str:
    def symbol(match: re.Match) -> str:
        if match.group(1) not in EMOJI:
            return match.group(0)
        glyph, colour = EMOJI[match.group(1)]
        return f'<span class="emoji" title="{match.group(0)}" style="color: {colour}">{glyph}</span>'
    return _EMOJI.sub(symbol, text)


def block_html(block: dict) -> str:
    kind = block.get("type")
    if kind == "header":
        return f'<div class="header">{_text(block.get("text"))}</div>'
    if kind == "section":
        fields = "".join(f"<div>{_text(f)}</div>" for f in block.get("fields") or [])
        return (f'<div class="section">{_text(block.get("text"))}'
                + (f'<div class="fields">{fields}</div>' if fields else "") + "</div>")
    if kind == "context":
        return f'<div class="context">{" ".join(_text(e) for e in block.get("elements") or [])}</div>'
    if kind == "divider":
        return "<hr>"
    if kind == "actions":
        return "<div>" + "".join(f'<span class="button">{_text(e.get("text"))}</span>'
                                 for e in block.get("elements") or []) + "</div>"
    return f"<div>[{html.escape(str(kind))} block]</div>"


def message_html(body: dict, edited: bool = False) -> str:
    blocks = body.get("blocks")
    content = "".join(block_html(b) for b in blocks) if blocks else f'<div class="section">{mrkdwn(body.get("text", ""))}</div>'
    return ('<div class="message"><div class="avatar">OA</div><div>'
            '<span class="who">ORC AI</span> <span class="app">APP</span>'
            + (' <span class="edited">(edited)</span>' if edited else "") + f"{content}</div></div>")


def channel_html(received: list, channel: str = "#airflow-alerts") -> str:
    """The channel as a reader sees it at the end: each message in its last edited form, its
    thread replies under it. `received`: the sink's records (path, body, and `ts` for the
    Web API posts it answered)."""
    posts: dict[str, dict] = {}  # ts (or position, for a webhook's) -> {"body", "edited", "replies"}
    for n, m in enumerate(received):
        if m.path.endswith("chat.update") and m.body.get("ts") in posts:
            posts[m.body["ts"]].update(body=m.body, edited=True)
        elif m.body.get("thread_ts") in posts:
            posts[m.body["thread_ts"]]["replies"].append(m.body)
        elif not m.path.endswith("chat.update"):
            posts[getattr(m, "ts", None) or f"#{n}"] = {"body": m.body, "edited": False, "replies": []}
    parts = []
    for post in posts.values():
        parts.append(message_html(post["body"], post["edited"]))
        if post["replies"]:
            replies = "".join(message_html(r) for r in post["replies"])
            count = len(post["replies"])
            parts.append(f'<div class="thread"><div class="thread-label">{count} '
                         f'{"reply" if count == 1 else "replies"}</div>{replies}</div>')
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(channel)}</title>"
            f"<style>{STYLE}</style></head><body>"
            "<div class='banner'>Drawn by ORC AI's test Slack sink from the Block Kit it received "
            "(tests/slack_render.py), not by Slack; emoji drawn as symbols.</div>"
            f"<div class='channel'>{html.escape(channel)}</div>{''.join(parts)}</body></html>")
