/* Curves to PNG through gnuplot (popen). Missing gnuplot is not an error of the caller's
 * making, but the functions still return non-zero with a message so callers can say so. */
#include "tensor/tensor.h"

#include <string.h>

static FILE *open_gnuplot(const char *fn, const char *png) {
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        ag__error(AG_ERR_IO, fn, "gnuplot not found; %s not written (apt-get install gnuplot-nox)",
                  png);
        return NULL;
    }
    FILE *g = popen("gnuplot", "w");
    if (!g) ag__error(AG_ERR_IO, fn, "cannot start gnuplot");
    return g;
}

static void quoted(FILE *g, const char *s) {
    fputc('"', g);
    for (; s && *s; s++)
        if (*s != '"' && *s != '\\' && *s != '\n') fputc(*s, g);
    fputc('"', g);
}

static int close_gnuplot(FILE *g, const char *fn, const char *png) {
    int st = pclose(g);
    if (st != 0) return ag__error(AG_ERR_IO, fn, "gnuplot failed (status %d) writing %s", st, png);
    return AG_OK;
}

int ag_plot_metrics(const char *csv_path, const char *png_path, const char *title) {
    const char *fn = "ag_plot_metrics";
    if (!csv_path || !png_path) return ag__error(AG_ERR_NULL, fn, "paths must not be NULL");
    FILE *g = open_gnuplot(fn, png_path);
    if (!g) return AG_ERR_IO;
    fprintf(g, "set terminal pngcairo size 1100,450 font 'Sans,10'\nset output ");
    quoted(g, png_path);
    fprintf(
        g,
        "\nset datafile separator ','\nset datafile missing 'nan'\nset key autotitle columnhead\n"
        "set grid\nset multiplot layout 1,2 title ");
    quoted(g, title ? title : "");
    fprintf(g, "\nf = ");
    quoted(g, csv_path);
    fprintf(
        g,
        "\nset xlabel 'epoch'\nset ylabel 'loss'\nset title 'loss'\n"
        "plot f using 1:2 with linespoints lw 2 title 'train', f using 1:4 with linespoints lw 2 title 'validation'\n"
        "set ylabel 'accuracy (%%)'\nset title 'accuracy'\n"
        "plot f using 1:($3*100) with linespoints lw 2 title 'train', "
        "f using 1:($5*100) with linespoints lw 2 title 'validation'\n"
        "unset multiplot\n");
    return close_gnuplot(g, fn, png_path);
}

int ag_plot_curves(const char *png_path, const char *title, const char *xlabel, const char *ylabel,
                   int n_series, const char *const *labels, const double *const *ys, int n_points,
                   bool log_y) {
    const char *fn = "ag_plot_curves";
    if (!png_path || n_series < 1 || n_points < 1 || !ys)
        return ag__error(AG_ERR_ARG, fn, "needs a path, series (%d) and points (%d)", n_series,
                         n_points);
    FILE *g = open_gnuplot(fn, png_path);
    if (!g) return AG_ERR_IO;
    fprintf(g, "set terminal pngcairo size 900,560 font 'Sans,10'\nset output ");
    quoted(g, png_path);
    fprintf(g, "\nset grid\nset key outside right\nset title ");
    quoted(g, title ? title : "");
    fprintf(g, "\nset xlabel ");
    quoted(g, xlabel ? xlabel : "");
    fprintf(g, "\nset ylabel ");
    quoted(g, ylabel ? ylabel : "");
    fprintf(g, "\n%s\nplot ", log_y ? "set logscale y" : "");
    for (int s = 0; s < n_series; s++) {
        fprintf(g, "%s'-' using 1:2 with lines lw 2 title ", s ? ", " : "");
        quoted(g, labels && labels[s] ? labels[s] : "");
    }
    fputc('\n', g);
    for (int s = 0; s < n_series; s++) {
        for (int i = 0; i < n_points; i++) {
            double v = ys[s][i];
            if (v == v && v < 1e300 && v > -1e300 && (!log_y || v > 0))
                fprintf(g, "%d %.10g\n", i, v);
        }
        fprintf(g, "e\n");
    }
    return close_gnuplot(g, fn, png_path);
}
