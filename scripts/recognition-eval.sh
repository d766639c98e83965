#!/usr/bin/env bash
# Measures recognition's quality on a small set of real photos and rendered
# text, the kinds issue 14 names, and compares pixpool binaries on it: per
# image, the labels found against the expected objects, the recall of the
# expected words, the words read that are not there, the seconds that
# `pixpool analyze` reports for labels and for text (median of ROUNDS runs,
# the binaries interleaved so a busy machine slows them alike) and the peak
# memory of the process.
#
#   scripts/recognition-eval.sh DIR                      build this tree, measure it
#   scripts/recognition-eval.sh DIR before=BIN after=BIN2  compare binaries
#
# DIR (outside the repository) receives the set (DIR/set/: the images,
# NAME.words with each one's expected text, manifest.tsv), every run's output
# (DIR/runs/NAME/IMAGE.ROUND.txt) and the table (DIR/results.md, also printed).
# The photos come from the recognition folder that scripts/setup-recognition.sh
# fills, found through PIXPOOL_RECOGNITION_DIR (default ~/.cache/pixpool);
# each binary runs `analyze --recognition-dir` on it with its own default
# thresholds. The text images are rendered with ImageMagick and fonts from
# Debian packages, installed here if missing. ROUNDS (default 3) runs of each
# image and binary. Run it under `nice -n 19` on a shared machine: the times are
# then those of analysis below serving.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ $# -lt 1 ] || [ "${1:0:1}" = - ]; then
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
fi
dir=$(realpath -m "$1")
shift
case "$dir/" in "$repo"/*)
	echo "recognition-eval: DIR must be outside the repository: the set is not committed" >&2
	exit 2
	;;
esac
mkdir -p "$dir"
rounds=${ROUNDS:-3}
rec=${PIXPOOL_RECOGNITION_DIR:-$HOME/.cache/pixpool}
photos=$rec/recognition/testdata
if [ ! -f "$photos/building.jpg" ]; then
	echo "recognition-eval: no photos in $photos; run scripts/setup-recognition.sh $rec" >&2
	exit 1
fi

names=() bins=()
if [ $# -eq 0 ]; then
	(cd "$repo" && go build -o "$dir/pixpool-tree" ./cmd/pixpool)
	set -- "tree=$dir/pixpool-tree"
fi
for a in "$@"; do
	case "$a" in
	?*=?*) names+=("${a%%=*}") bins+=("$(realpath "${a#*=}")") ;;
	*) echo "recognition-eval: want NAME=BINARY, got $a" >&2 && exit 2 ;;
	esac
	[ -x "${bins[-1]}" ] || { echo "recognition-eval: ${bins[-1]} is not an executable" >&2 && exit 1; }
done

# Tools and fonts, from Debian's packages.
serif=/usr/share/fonts/opentype/urw-base35/C059-Roman.otf
narrow=/usr/share/fonts/opentype/urw-base35/NimbusSansNarrow-Bold.otf
sans=/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
sansbold=/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf
dserif=/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf
need=()
command -v convert >/dev/null || need+=(imagemagick)
command -v python3 >/dev/null || need+=(python3)
[ -x /usr/bin/time ] || need+=(time)
[ -f "$sans" ] && [ -f "$sansbold" ] && [ -f "$dserif" ] || need+=(fonts-dejavu-core)
[ -f "$serif" ] && [ -f "$narrow" ] || need+=(fonts-urw-base35)
if [ ${#need[@]} -gt 0 ]; then
	echo "recognition-eval: installing ${need[*]}" >&2
	apt-get install -y -qq "${need[@]}" >&2 || { apt-get update -qq && apt-get install -y -qq "${need[@]}"; } >&2
fi

# The set. manifest.tsv: image, kind, expected labels (", " between objects,
# "|" between names that count for the same object; a name counts when it is
# a found label's whole word or words, so "pickup truck" counts for "truck").
setdir=$dir/set
rm -rf "$setdir" && mkdir -p "$setdir"
manifest=$setdir/manifest.tsv
photo() { # NAME KIND LABELS [WORDS]
	cp "$photos/$1.jpg" "$setdir/$1.jpg"
	printf '%s\t%s\t%s\n' "$1.jpg" "$2" "$3" >>"$manifest"
	printf '%s\n' "${4:-}" >"$setdir/$1.words"
}
photo apple close-up "apple"
photo orange close-up "orange"
photo fruits scene "orange, banana"
photo messi5 scene "person, sports ball|ball" "unicef WEEKmedia"
photo scenetext01 scene "person, car|wagon" "NOTICE DOUBLE PARKING PROHIBITED AT ALL TIMES"
photo building scene "potted plant, car"
photo dog scene "dog, bicycle, truck|car|pickup"
photo horses scene "horse"
photo person scene "person, dog, horse"
photo giraffe scene "giraffe, zebra"
photo eagle scene "bird|eagle"
photo kite scene "kite, person"

rendered() { # NAME KIND; the words are in $setdir/NAME.words already
	printf '%s\t%s\t%s\n' "$1.png" "$2" "" >>"$manifest"
}
words() { printf '%s\n' "$2" >"$setdir/$1.words"; }

words lines "The quick brown fox jumps over the lazy dog.
Meeting moved to Thursday at half past three.
Please bring the signed forms and your badge.
Parking is free for visitors after six."
convert -size 1000x300 xc:white -font "$sans" -pointsize 34 -fill black \
	-annotate +40+70 "$(cat "$setdir/lines.words")" -depth 8 "$setdir/lines.png"
rendered lines text

words dark "Summer sale ends Sunday
Everything must go
Open late on Fridays"
convert -size 900x320 xc:'#1e2a38' -font "$sansbold" -pointsize 44 -fill white \
	-interline-spacing 16 -annotate +60+90 "$(cat "$setdir/dark.words")" -depth 8 "$setdir/dark.png"
rendered dark text

words tilted "Keep this receipt for your records
Returns are accepted within thirty days
Thank you for shopping with us"
convert -size 1000x300 xc:white -font "$dserif" -pointsize 36 -fill '#222222' \
	-interline-spacing 14 -annotate +50+80 "$(cat "$setdir/tilted.words")" \
	-background white -rotate -11 +repage -depth 8 "$setdir/tilted.png"
rendered tilted text

# A page of a book as a scanner gives it: an off-white sheet, a serif face,
# a running head and a page number, slightly crooked, blurred and noisy.
words page "THE LETTER
The house stood at the end of a long lane, where the hedges grew so close together that a cart could barely pass between them. Nobody in the village could remember when it had been built, and nobody seemed to care very much, for the people who lived there kept to themselves and paid their bills on time. In the spring the garden filled with roses, and the smell of cut grass drifted down the lane as far as the church. In the winter the windows were dark by four o'clock, and only the kitchen lamp burned late into the evening.
    Margaret had come to the house as a young woman, meaning to stay for a single summer while her aunt recovered from an illness. The summer had become a year, and the year had become twenty, and now she could hardly imagine living anywhere else. She knew every creaking board on the stairs and every draught that found its way under the doors. She knew which apples in the orchard were sweet and which were only good for cooking, and she knew that the old clock in the hall ran eleven minutes slow no matter how often it was wound.
    On the morning the letter arrived, she was standing at the window with a cup of tea, watching the rain move across the fields in long grey curtains. The postman waved from his bicycle and left the envelope on the step. It was thick and cream coloured, addressed in a careful hand she did not recognise, and it carried a stamp from a country she had never visited. She turned it over twice before she opened it, as if the weight of the paper might tell her what was inside.
    The first line made her sit down. The second made her read the first again. She set the cup on the sill and looked out at the lane, half expecting to see someone waiting there, but there was only the rain and the dark line of the hedge. Then she read the letter from the beginning, slowly this time, and when she had finished she folded it along its creases and put it in the pocket of her apron."
# caption: would wrap the lines itself but measures the whole text first and
# runs into the width limit of ImageMagick's security policy: fold instead.
body=$(sed 1d "$setdir/page.words" | fold -s -w 70 | sed 's/ *$//')
convert -size 1200x1700 xc:'#f6f3ea' -font "$serif" -fill '#1c1c1c' \
	-pointsize 24 -gravity north -annotate +0+90 "$(sed -n 1p "$setdir/page.words")" \
	-pointsize 29 -interline-spacing 12 -gravity northwest -annotate +100+190 "$body" \
	-pointsize 24 -gravity south -annotate +0+90 '47' \
	-background '#f6f3ea' -rotate 0.6 -gravity center -extent 1200x1700 \
	-blur 0x0.6 -attenuate 0.25 +noise Gaussian +repage -depth 8 "$setdir/page.png"
rendered page text

# A meme: a photo with a yellow caption in outlined bold condensed capitals,
# one line over the sky and trees, one at the bottom.
words meme "MONDAY MORNING AT THE OFFICE
ALL SEVEN FLOORS OF IT"
top=$(sed -n 1p "$setdir/meme.words") bottom=$(sed -n 2p "$setdir/meme.words")
# As large as the longer line allows: 92 % of the photo's width.
w=$(convert -font "$narrow" -pointsize 100 label:"$top" -format %w info:)
wb=$(convert -font "$narrow" -pointsize 100 label:"$bottom" -format %w info:)
pw=$(identify -format %w "$photos/building.jpg")
ps=$((100 * pw * 92 / 100 / (w > wb ? w : wb)))
convert "$photos/building.jpg" -font "$narrow" -pointsize "$ps" \
	-stroke black -strokewidth $((ps / 9)) -fill '#ffe21a' \
	-gravity north -annotate +0+12 "$top" -gravity south -annotate +0+18 "$bottom" \
	-stroke none \
	-gravity north -annotate +0+12 "$top" -gravity south -annotate +0+18 "$bottom" \
	-quality 92 "$setdir/meme.jpg"
printf '%s\t%s\t%s\n' meme.jpg meme "potted plant, car" >>"$manifest"

# The runs, interleaved: each round runs every image with every binary.
rm -rf "$dir/runs"
for n in "${names[@]}"; do mkdir -p "$dir/runs/$n"; done
mapfile -t images < <(cut -f1 "$manifest")
for ((r = 1; r <= rounds; r++)); do
	echo "recognition-eval: round $r of $rounds" >&2
	for img in "${images[@]}"; do
		for i in "${!names[@]}"; do
			out=$dir/runs/${names[i]}/$img.$r.txt
			# Run from DIR so no ./pixpool-data of the caller's is looked at.
			# GNU time's peak is the larger of analyze's and its largest
			# child's (a tesseract process) resident set.
			(cd "$dir" && /usr/bin/time -f 'peak-rss-kb %M' -o "$out.rss" \
				"${bins[i]}" analyze --recognition-dir "$rec" --timeout 10m "$setdir/$img") >"$out" 2>&1 ||
				echo "EXIT $?" >>"$out"
		done
	done
done

{
	echo "Generated by \`scripts/recognition-eval.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores," \
		"$rounds rounds, load before the summary: $(cut -d' ' -f1-3 /proc/loadavg)."
	for i in "${!names[@]}"; do echo "- \`${names[i]}\`: ${bins[i]}"; done
	echo
	python3 - "$dir" "${names[@]}" <<'PY'
import collections, os, re, statistics, sys

root, names = sys.argv[1], sys.argv[2:]
set_dir, runs = os.path.join(root, "set"), os.path.join(root, "runs")

def dur(s):
    """Seconds in a Go duration as time.Duration prints it (1m2.5s, 612ms, 850µs)."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"([\d.]+)(h|ms|us|µs|μs|ns|m|s)", s)
    return sum(float(v) * units[u] for v, u in parts) if parts else None

def parse(path):
    """Labels [(name, conf)], text lines, label and text seconds of one analyze output."""
    labels, lines, secs = [], [], {}
    section = None
    for line in open(path, encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"^(labels|text)\b(?: \(([^,)]*))?", line)
        if m:
            section = m.group(1)
            if m.group(2):
                secs[section] = dur(m.group(2))
            continue
        if section == "labels":
            m = re.match(r"^\s+(.*?)\s+(\d+(?:\.\d+)?)%", line)
            if m:
                labels.append((m.group(1), float(m.group(2))))
        elif section == "text":
            m = re.match(r"^\s+(\d+(?:\.\d+)?)%\s+(.*)$", line)
            if m:
                lines.append(m.group(2))
    failed = open(path, encoding="utf-8", errors="replace").read().count("EXIT ") > 0
    m = re.search(r"peak-rss-kb (\d+)", open(path + ".rss").read()) if os.path.exists(path + ".rss") else None
    secs["rss"] = int(m.group(1)) / 1024 if m else None
    return labels, lines, secs, failed

def tokens(text):
    return [w for w in re.findall(r"[^\W\d_]+", text.lower()) if len(w) >= 2]

def hit(alt, found):
    """Whether the expected name alt is a found label's word or words."""
    a = alt.lower().split()
    for name in found:
        w = name.lower().replace(",", " ").split()
        # Darknet's class names run words together: "pottedplant".
        if "".join(w) == "".join(a) or any(w[i:i + len(a)] == a for i in range(len(w) - len(a) + 1)):
            return True
    return False

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None

def fmt_s(x):
    return "–" if x is None else f"{x:.2f}"

manifest = [l.rstrip("\n").split("\t") for l in open(os.path.join(set_dir, "manifest.tsv"))]
print("| image | kind | expected | binary | labels found | label hits | other labels | words recall | extra words | labels s | text s | peak MB |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
totals = {n: collections.defaultdict(list) for n in names}
for img, kind, expect in manifest:
    stem = img.rsplit(".", 1)[0]
    want_words = tokens(open(os.path.join(set_dir, stem + ".words")).read())
    objects = [o.split("|") for o in expect.split(", ")] if expect else []
    exp_cell = ", ".join("/".join(o) for o in objects)
    if want_words:
        exp_cell += ("; " if exp_cell else "") + f"{len(want_words)} words"
    for i, n in enumerate(names):
        outs = sorted(f for f in os.listdir(os.path.join(runs, n)) if f.startswith(img + "."))
        parsed = [parse(os.path.join(runs, n, f)) for f in outs]
        labels, lines, _, failed = parsed[0]
        found = [l for l, _ in labels]
        t = totals[n]
        hits = None
        if objects:
            hits = sum(any(hit(a, found) for a in o) for o in objects)
            t["hits"].append(hits)
            t["objects"].append(len(objects))
        other = [l for l in found if not any(hit(a, [l]) for o in objects for a in o)]
        t["other"].append(len(other))
        read = collections.Counter(tokens(" ".join(lines)))
        want = collections.Counter(want_words)
        recall = None
        if want:
            recall = sum(min(c, read[w]) for w, c in want.items()) / sum(want.values())
            t["recall"].append(recall)
        extra = read - want
        extra_n = sum(extra.values())
        extra_cell = str(extra_n)
        if extra_n:
            extra_cell += " (" + " ".join(w for w, _ in extra.most_common(6)) + ("…" if len(extra) > 6 else "") + ")"
        ls = med([p[2].get("labels") for p in parsed])
        ts = med([p[2].get("text") for p in parsed])
        rss = max([p[2]["rss"] for p in parsed if p[2]["rss"] is not None], default=None)
        t["labels_s"].append(ls)
        t["rss"].append(rss)
        t["text_s"].append(ts)
        labels_cell = ", ".join(f"{l} {c:.0f}" for l, c in labels) or "none"
        if any(p[3] for p in parsed):
            labels_cell = "**analyze failed** " + labels_cell
        row = [img if i == 0 else "", kind if i == 0 else "", exp_cell if i == 0 else "", n, labels_cell,
               "–" if hits is None else f"{hits}/{len(objects)}", ", ".join(other) or "–",
               "–" if recall is None else f"{recall:.2f}", extra_cell, fmt_s(ls), fmt_s(ts),
               "–" if rss is None else f"{rss:.0f}"]
        print("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |")

print()
print("| binary | label hits | images with every expected label | other labels | mean words recall | images with recall >= 0.9 | median labels s | median text s | slowest text s | largest peak MB |")
print("|---|---|---|---|---|---|---|---|---|---|")
for n in names:
    t = totals[n]
    full = sum(h == o for h, o in zip(t["hits"], t["objects"]))
    rec = t["recall"]
    ts = [x for x in t["text_s"] if x is not None]
    print(f"| {n} | {sum(t['hits'])}/{sum(t['objects'])} | {full}/{len(t['objects'])} | {sum(t['other'])} | "
          f"{statistics.mean(rec):.2f} | {sum(r >= 0.9 for r in rec)}/{len(rec)} | "
          f"{fmt_s(med(t['labels_s']))} | {fmt_s(med(ts))} | {fmt_s(max(ts) if ts else None)} | "
          f"{max([x for x in t['rss'] if x is not None], default=0):.0f} |")
print()
print("Expected text of each image (words of two or more letters count, case ignored; extra words are those read beyond the expected ones):")
print()
for img, kind, _ in manifest:
    text = " ".join(open(os.path.join(set_dir, img.rsplit(".", 1)[0] + ".words")).read().split())
    if text:
        print(f"- {img}: {text[:160]}{'…' if len(text) > 160 else ''}")
PY
} | tee "$dir/results.md"
