set terminal pngcairo size 960,540 font 'sans,10'
set output 'scale_connections.png'
set title 'Connections: IOPS and nvfabd memory (4 KiB randread QD1 per connection, null)'
set xlabel 'connections (queue pairs)'
set ylabel 'kIOPS'
set y2label 'RSS (MiB)'
set logscale x 2
set ytics nomirror
set y2tics
set yrange [0:*]
set y2range [0:*]
set grid
set key top left
plot 'scale_busy.dat' using 1:2 axis x1y1 with linespoints lw 2 title 'kIOPS, busy', 'scale_busy.dat' using 1:3 axis x1y2 with linespoints dt 2 lw 2 title 'nvfabd RSS MiB, busy', 'scale_event.dat' using 1:2 axis x1y1 with linespoints lw 2 title 'kIOPS, event', 'scale_event.dat' using 1:3 axis x1y2 with linespoints dt 2 lw 2 title 'nvfabd RSS MiB, event'
