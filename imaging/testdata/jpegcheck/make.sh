#!/bin/sh
# Makes the JPEGs that seed FuzzJPEGCheck and the checker's tests, with
# Python 3 (the source picture) and libjpeg-turbo's cjpeg. Run from this folder.
set -e
python3 - <<'PY'
import math, random
random.seed(7)
w, h = 97, 61
rgb, gray = bytearray(), bytearray()
for y in range(h):
    for x in range(w):
        n = random.randint(-12, 12)
        r = int(128 + 90*math.sin(x/9.0) + n) & 255
        g = int(128 + 90*math.cos(y/7.0 + x/23.0) + n) & 255
        b = (x*y + n) & 255
        rgb += bytes((r, g, b)); gray.append((r*3 + g*5 + b*2)//10)
open('src.ppm', 'wb').write(b'P6 %d %d 255\n' % (w, h) + rgb)
open('gray.pgm', 'wb').write(b'P5 %d %d 255\n' % (w, h) + gray)
PY
cjpeg -quality 80 gray.pgm > gray.jpg
cjpeg -quality 80 -sample 1x1 src.ppm > s444.jpg
cjpeg -quality 80 -sample 2x1 src.ppm > s422.jpg
cjpeg -quality 80 -sample 2x2 src.ppm > s420.jpg
cjpeg -quality 80 -sample 1x2 src.ppm > s440.jpg
cjpeg -quality 80 -sample 4x1 src.ppm > s411.jpg
cjpeg -quality 90 -optimize -sample 2x2 src.ppm > optimized.jpg
cjpeg -quality 80 -restart 1 -sample 2x2 src.ppm > restart-rows.jpg
cjpeg -quality 80 -restart 3B -sample 2x2 src.ppm > restart-mcus.jpg
cjpeg -quality 80 -restart 2B gray.pgm > restart-gray.jpg
printf '0;\n1;\n2;\n' > seq.txt
cjpeg -quality 80 -sample 2x2 -scans seq.txt src.ppm > scans420.jpg
cjpeg -quality 80 -sample 1x1 -restart 5B -scans seq.txt src.ppm > scans444-restart.jpg
printf '0;\n1,2;\n' > seq2.txt
cjpeg -quality 80 -sample 2x2 -scans seq2.txt src.ppm > scans-chroma.jpg
cjpeg -quality 80 -progressive src.ppm > progressive.jpg
cjpeg -quality 80 -arithmetic src.ppm > arithmetic.jpg
rm -f src.ppm gray.pgm seq.txt seq2.txt
