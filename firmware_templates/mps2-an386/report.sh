#!/bin/sh
# report.sh ELF RUN_LOG: the measured figures as JSON on stdout (`make report` writes them to
# report.json). Flash and static RAM come from arm-none-eabi-size; the arena, the stack
# high-water and the instruction counts from the `fftk-report` lines the firmware printed.
# The environment (set by the Makefile) names the tools, the optimisation and the part.
set -eu
elf=$1
log=$2

# One `fftk-report KEY VALUE` line of the run, or stop saying which is missing.
figure() {
  value=$(awk -v k="$1" '$1 == "fftk-report" && $2 == k { v = $3 } END { print v }' "$log")
  case $value in
    ''|*[!0-9]*) echo "report.sh: $log has no fftk-report $1 line (did make run finish?)" >&2
                 exit 1 ;;
  esac
  echo "$value"
}

# A tool's first output line as a JSON string (backslashes and quotes escaped).
version() {
  "$@" --version 2>/dev/null | head -n 1 | sed 's/\\/\\\\/g; s/"/\\"/g'
}

set -- $("$SIZE" -B "$elf" | awk 'NR == 2 { print $1, $2, $3 }')
text=$1 data=$2 bss=$3
flash=$((text + data))
static_ram=$((data + bss))
images=$(figure images)
total=$(figure instructions_total)
arena=$(figure arena_bytes)
stack=$(figure stack_high_water_bytes)
macs=$(figure macs)
ram=$((arena + stack))
per_image=$((total / images))
fits=false
if [ "$flash" -le "$FLASH_BYTES" ] && [ $((static_ram + stack)) -le "$RAM_BYTES" ]; then
  fits=true
fi
part=null
[ "$PART" = none ] || part="\"$PART\""

cat <<JSON
{
  "board": "mps2-an386",
  "cpu": "Cortex-M4, emulated (qemu-system-arm -M mps2-an386)",
  "part": $part,
  "part_flash_bytes": $FLASH_BYTES,
  "part_ram_bytes": $RAM_BYTES,
  "fits_part": $fits,
  "flash_bytes": $flash,
  "text_bytes": $text,
  "data_bytes": $data,
  "bss_bytes": $bss,
  "static_ram_bytes": $static_ram,
  "arena_bytes": $arena,
  "stack_high_water_bytes": $stack,
  "stack_reserved_bytes": $(figure stack_reserved_bytes),
  "ram_bytes": $ram,
  "macs": $macs,
  "images": $images,
  "agree_with_labels": $(figure agree_with_labels),
  "instructions_per_image": $per_image,
  "instructions_min": $(figure instructions_min),
  "instructions_max": $(figure instructions_max),
  "instructions_per_mac": $(awk -v i="$per_image" -v m="$macs" \
    'BEGIN { if (m > 0) printf "%.3f", i / m; else printf "null" }'),
  "instruction_count": "emulated, not hardware cycles: qemu-system-arm -icount shift=0 advances virtual time 1 ns per instruction, read with the 25 MHz CMSDK timer 0 (40 instructions per tick)",
  "calibration_expected": $(figure calibration_expected),
  "calibration_measured": $(figure calibration_measured),
  "compiler": "$(version "$CC")",
  "opt": "$OPT",
  "qemu": "$(version "$QEMU")",
  "command": "make report"
}
JSON
