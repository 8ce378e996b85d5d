set terminal pngcairo size 960,540 font 'sans,10'
set output 'latency_percentiles_qd1_4k_read.png'
set title 'QD1 4 KiB random read: latency percentiles (medians over repetitions)'
set xtics ('p50' 0, 'p90' 1, 'p99' 2, 'p99.9' 3, 'p99.99' 4)
set xrange [-0.2:4.2]
set ylabel 'latency (us)'
set logscale y
set grid
set key top left
plot 'pct_floor_read4k-success_busy.dat' using 1:2 with linespoints lw 2 title 'floor read4k-success, busy', 'pct_nvfab_ram_busy.dat' using 1:2 with linespoints lw 2 title 'nvfab ram, busy', 'pct_local_ram_busy.dat' using 1:2 with linespoints lw 2 title 'local ram, busy', 'pct_nvfab_null_busy.dat' using 1:2 with linespoints lw 2 title 'nvfab null, busy', 'pct_local_null_busy.dat' using 1:2 with linespoints lw 2 title 'local null, busy', 'pct_floor_read4k-success_event.dat' using 1:2 with linespoints lw 2 dt 2 title 'floor read4k-success, event', 'pct_nvfab_ram_event.dat' using 1:2 with linespoints lw 2 dt 2 title 'nvfab ram, event', 'pct_local_ram_event.dat' using 1:2 with linespoints lw 2 dt 2 title 'local ram, event', 'pct_nvfab_null_event.dat' using 1:2 with linespoints lw 2 dt 2 title 'nvfab null, event', 'pct_local_null_event.dat' using 1:2 with linespoints lw 2 dt 2 title 'local null, event'
