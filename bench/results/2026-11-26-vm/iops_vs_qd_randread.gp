set terminal pngcairo size 960,540 font 'sans,10'
set output 'iops_vs_qd_randread.png'
set title '4 KiB randread, null bdev: IOPS vs queue depth (medians)'
set xlabel 'queue depth'
set ylabel 'kIOPS (log scale)'
set logscale x 2
set logscale y 10
set grid
set key bottom right
set yrange [1:*]
plot 'iops_randread_r1_busy.dat' using 1:2 with linespoints lw 2 title '1 reactor, busy', 'iops_randread_r1_event.dat' using 1:2 with linespoints lw 2 title '1 reactor, event', 'iops_randread_r2_busy.dat' using 1:2 with linespoints lw 2 title '2 reactors, busy', 'iops_randread_r2_event.dat' using 1:2 with linespoints lw 2 title '2 reactors, event', 'floor_randread_busy.dat' using 1:2 with linespoints dt 3 lw 2 lc rgb '#555555' title 'raw TCP floor, busy', 'floor_randread_event.dat' using 1:2 with linespoints dt 3 lw 2 lc rgb '#aaaaaa' title 'raw TCP floor, event', 'ref_randread.dat' using 1:2 with points pt 7 ps 2 lc rgb 'black' title 'reference (brief, not measured)'
