"""The QA report's index.html: one self-contained page (relative links, no scripts, no server)."""
import html
import os

STYLE = """body{font-family:sans-serif;margin:1.5em;color:#222}table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}th{background:#eee}tr.warn td{background:#fff4e5}
tr.fail td{background:#fde8e8}img{max-width:100%}.maps img{max-width:32%;margin-right:1%;vertical-align:top}
td img{width:300px}.small{font-size:11px;color:#555}"""


def _cell(value):
  return html.escape(str(value)) if value is not None else ""


def write_index(out_dir, title, summary, sheet, maps, rows, label_column=None):
  """sheet: (caption, path) of the contact sheet; maps: [(caption, image path relative to out_dir)];
  rows: dicts with the table's columns, plus 'png' (relative path, or None), 'warnings' (list) and
  'error' (str or None)."""
  columns = ["ID"] + ([label_column] if label_column else []) + [
    "ROI volume (ml)", "box spacing (mm)", "window", "field of view", "warnings", "what the encoder sees", "Image", "Mask"]
  lines = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'>", f"<title>{html.escape(title)}</title>",
           f"<style>{STYLE}</style></head><body>", f"<h1>{html.escape(title)}</h1>"]
  lines += [f"<p>{html.escape(line)}</p>" for line in summary]
  lines.append(f"<h2>The cohort</h2><p><a href='{html.escape(sheet[1])}'><img src='{html.escape(sheet[1])}' "
               f"alt='{html.escape(sheet[0])}'></a></p><p class='small'>{html.escape(sheet[0])}</p><div class='maps'>")
  lines += [f"<a href='{html.escape(path)}'><img src='{html.escape(path)}' alt='{html.escape(caption)}' "
            f"title='{html.escape(caption)}'></a>" for caption, path in maps]
  lines.append("</div><p class='small'>" + " | ".join(html.escape(caption) for caption, _ in maps) + "</p>")
  lines.append("<h2>Cases</h2><table><tr>" + "".join(f"<th>{c}</th>" for c in columns) + "</tr>")
  for row in rows:
    kind = "fail" if row.get("error") else ("warn" if row.get("warnings") else "")
    notes = _cell(row["error"]) if row.get("error") else "<br>".join(html.escape(w) for w in row.get("warnings", []))
    png = html.escape(row["png"]) if row.get("png") else None
    cells = {"ID": f"<a href='{png}'>{_cell(row['ID'])}</a>" if png else _cell(row["ID"]), "warnings": notes,
             "what the encoder sees": f"<a href='{png}'><img src='{png}' loading='lazy' alt='{_cell(row['ID'])}'></a>" if png else ""}
    lines.append(f"<tr class='{kind}'>" + "".join(f"<td>{cells.get(c, _cell(row.get(c)))}</td>" for c in columns) + "</tr>")
  lines.append("</table></body></html>")
  path = os.path.join(out_dir, "index.html")
  with open(path, "w") as stream:
    stream.write("\n".join(lines) + "\n")
  return path
