// Line charts drawn as inline SVG: one chart per metric, a line per series (an assistant or a
// business number), days along the bottom. No library: a few elements per point.

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d"];

function element(name, attributes = {}, text = "") {
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text) node.textContent = text;
  return node;
}

/**
 * An SVG chart of `series` ({label, points: [{day, value}]}) over `days`, titled `title`;
 * `format` writes a value. The SVG has a title and a description for screen readers; each point
 * carries its line, day and exact value (`data-series`, `data-day`, `data-value`).
 */
export function lineChart(title, days, series, format) {
  const width = 640;
  const height = 220;
  const left = 56;
  const bottom = 28;
  const top = 12;
  const right = 12;
  const values = series.flatMap((line) => line.points.map((point) => point.value));
  const most = Math.max(1e-9, ...values);
  const x = (index) => left + (days.length < 2 ? 0 : (index * (width - left - right)) / (days.length - 1));
  const y = (value) => top + (height - top - bottom) * (1 - value / most);
  const svg = element("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    class: "chart",
    "aria-labelledby": "",
  });
  const id = `chart-${Math.random().toString(36).slice(2)}`;
  svg.setAttribute("aria-labelledby", `${id}-title ${id}-desc`);
  svg.append(element("title", { id: `${id}-title` }, title));
  svg.append(
    element(
      "desc",
      { id: `${id}-desc` },
      series.map((line) => `${line.label}: ${line.points.map((p) => `${p.day} ${format(p.value)}`).join(", ")}`).join("; ") ||
        "no data",
    ),
  );
  for (const fraction of [0, 0.5, 1]) {
    const level = y(most * fraction);
    svg.append(element("line", { x1: left, x2: width - right, y1: level, y2: level, class: "grid" }));
    svg.append(element("text", { x: left - 6, y: level + 4, "text-anchor": "end", class: "axis" }, format(most * fraction)));
  }
  const step = Math.max(1, Math.ceil(days.length / 6));
  days.forEach((day, index) => {
    if (index % step === 0 || index === days.length - 1) {
      svg.append(element("text", { x: x(index), y: height - 8, "text-anchor": "middle", class: "axis" }, day.slice(5)));
    }
  });
  series.forEach((line, number) => {
    const colour = COLOURS[number % COLOURS.length];
    const byDay = new Map(line.points.map((point) => [point.day, point.value]));
    const coordinates = days.map((day, index) => [x(index), y(byDay.get(day) || 0)]);
    if (coordinates.length > 1) {
      svg.append(element("polyline", { points: coordinates.map((c) => c.join(",")).join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
    }
    coordinates.forEach(([cx, cy], index) => {
      const day = days[index];
      const point = element("circle", { cx, cy, r: 3, fill: colour, "data-series": line.label, "data-day": day, "data-value": byDay.get(day) || 0 });
      point.append(element("title", {}, `${line.label}, ${day}: ${format(byDay.get(day) || 0)}`));
      svg.append(point);
    });
  });
  return svg;
}

/**
 * The chart and, folded under it, a table of the same figures (a row per day, a column per
 * line), for anyone who cannot read the lines; each cell keeps the exact value in `data-value`.
 */
export function chartWithTable(title, days, series, format) {
  const table = document.createElement("table");
  table.className = "figures";
  const caption = document.createElement("caption");
  caption.textContent = `${title} by day`;
  const head = document.createElement("tr");
  for (const text of ["Day", ...series.map((line) => line.label)]) {
    const cell = document.createElement("th");
    cell.scope = "col";
    cell.textContent = text;
    head.append(cell);
  }
  const thead = document.createElement("thead");
  thead.append(head);
  const tbody = document.createElement("tbody");
  for (const day of days) {
    const row = document.createElement("tr");
    const dayCell = document.createElement("th");
    dayCell.scope = "row";
    dayCell.textContent = day;
    row.append(dayCell);
    for (const line of series) {
      const point = line.points.find((candidate) => candidate.day === day);
      const cell = document.createElement("td");
      cell.dataset.series = line.label;
      if (point) {
        cell.dataset.value = String(point.value);
        cell.textContent = format(point.value);
      } else {
        cell.textContent = "—";
      }
      row.append(cell);
    }
    tbody.append(row);
  }
  table.append(caption, thead, tbody);
  const details = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = "Figures";
  details.append(summary, table);
  const box = document.createDocumentFragment();
  box.append(lineChart(title, days, series, format), details);
  return box;
}

export function legend(series) {
  const list = document.createElement("ul");
  list.className = "legend";
  list.setAttribute("aria-label", "Lines");
  series.forEach((line, number) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = COLOURS[number % COLOURS.length];
    item.append(swatch, document.createTextNode(line.label));
    list.append(item);
  });
  return list;
}
