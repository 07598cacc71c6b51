package katalog

import (
	"fmt"
	"strings"
)

// Suggest returns a "did you mean" hint when key is a near miss of one of
// valid (a typo, a transposition or a case slip), and "" otherwise.
func Suggest(key string, valid []string) string {
	if len(key) > 64 {
		return ""
	}
	lk := strings.ToLower(key)
	// Allow about one edit per four letters, at least one, at most three.
	limit := min(max(len(key)/4, 1), 3)
	best, bestDist := "", limit+1
	for _, v := range valid {
		if dist := editDistance(lk, strings.ToLower(v)); dist < bestDist {
			best, bestDist = v, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("did you mean %q?", best)
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of adjacent bytes each cost one.
func editDistance(a, b string) int {
	// Three rows of the dynamic programming table: i-2, i-1 and i.
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}
