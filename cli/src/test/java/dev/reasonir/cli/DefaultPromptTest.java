package dev.reasonir.cli;

import dev.reasonir.Instructions;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** Issue 18 item 9: a bare {"text"} line gets the default prompt of every surface, and the help text names it. */
class DefaultPromptTest {
    @Test
    void aLineWithoutRoleOrInstructionGetsTheDefaultPrompt() {
        assertEquals(Instructions.DEFAULT_PROMPT, InputLine.parse("{\"text\": \"a\"}", "f line 1").instruction());
        assertEquals(Instructions.DOCUMENT, Instructions.DEFAULT_PROMPT);
        assertEquals("", InputLine.parse("{\"text\": \"a\", \"instruction\": \"\"}", "f line 2").instruction(),
                "raw text stays available, explicitly");
    }

    @Test
    void theHelpTextShowsThePromptInUse() {
        assertEquals(Instructions.describe(Instructions.DEFAULT_PROMPT), EmbedCommands.DEFAULT_PROMPT_SHOWN);
    }
}
