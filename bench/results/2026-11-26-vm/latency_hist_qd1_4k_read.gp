set terminal pngcairo size 960,540 font 'sans,10'
set output 'latency_hist_qd1_4k_read.png'
set title 'QD1 4 KiB random read latency, busy mode (0.1 us bins, all repetitions)'
set xlabel 'latency (us)'
set ylabel '% of I/Os per 0.1 us'
set grid
set xrange [5.5:25.0]
set key top right
plot 'hist_0.dat' using 1:2 with steps lw 2 title 'floor read4k-success', 'hist_1.dat' using 1:2 with steps lw 2 title 'nvfab remote ram', 'hist_2.dat' using 1:2 with steps lw 2 title 'nvfab remote null'
