// Package tsv reads the tab-separated tables derived from Klaviyo's spec, for the catalog's
// generator and for the test that checks the generated catalog against them.
package tsv

import (
	"bufio"
	"os"
	"strings"
)

// Read returns the rows of the table at path, each a map from the header's column names to the
// row's values (a short row leaves its missing columns out).
func Read(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var header []string
	var rows []map[string]string
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if header == nil {
			header = cols
			continue
		}
		row := map[string]string{}
		for i, h := range header {
			if i < len(cols) {
				row[h] = cols[i]
			}
		}
		rows = append(rows, row)
	}
	return rows, sc.Err()
}
