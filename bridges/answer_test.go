package bridges

import "testing"

// TestTextAnswerFediverse covers what people write under an event post;
// the mail forms are covered by mail's TestTextAnswer, which runs the
// same parser.
func TestTextAnswerFediverse(t *testing.T) {
	tests := []struct {
		text string
		want Answer
	}{
		{"going", AnswerAccepted},
		{"Going!", AnswerAccepted},
		{"Count me in 🎉", AnswerAccepted},
		{"I'm going", AnswerAccepted},
		{"J'y vais", AnswerAccepted},
		{"j’y vais !", AnswerAccepted},
		{"Je viens", AnswerAccepted},
		{"je viens avec une amie", AnswerAccepted},
		{"+1", AnswerAccepted},
		{"+1 see you there", AnswerAccepted},
		{"✅", AnswerAccepted},
		{"👍🏽", AnswerAccepted},
		{"not going", AnswerDeclined},
		{"Not going, sorry", AnswerDeclined},
		{"Can't make it", AnswerDeclined},
		{"can’t make it after all", AnswerDeclined},
		{"Je ne viens plus", AnswerDeclined},
		{"❌", AnswerDeclined},
		{"maybe", AnswerTentative},
		// Not answers.
		{"Je viens de voir l'affiche", ""},
		{"+10 degrees that day", ""},
		{"Not today", ""},
		{"Where is it?", ""},
		{"🎉", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := TextAnswer(tt.text); got != tt.want {
			t.Errorf("TextAnswer(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}
