package dev.reasonir;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The query prompts of the official BRIGHT evaluation, character for character (spec table). */
class InstructionsTest {
    @Test
    void everyBrightTask() {
        String post = "<|user|>\nGiven a %s post, retrieve relevant passages that help answer the post\n<|embed|>\n";
        for (String t : new String[] {"biology", "earth_science", "economics", "psychology", "robotics",
                "stackoverflow", "sustainable_living"}) {
            assertEquals(String.format(post, t), Instructions.bright(t));
        }
        assertEquals("<|user|>\nGiven a pony question, retrieve relevant passages that help answer the question\n"
                + "<|embed|>\n", Instructions.bright("pony"));
        assertEquals("<|user|>\nGiven a coding problem, retrieve relevant examples that help answer the problem\n"
                + "<|embed|>\n", Instructions.bright("leetcode"));
        String math = "<|user|>\nGiven a Math problem, retrieve relevant examples that help answer the problem\n"
                + "<|embed|>\n";
        assertEquals(math, Instructions.bright("aops"));
        assertEquals(math, Instructions.bright("theoremqa_questions"));
        assertEquals("<|user|>\nGiven a Math problem, retrieve relevant theorems that help answer the problem\n"
                + "<|embed|>\n", Instructions.bright("theoremqa_theorems"));
        assertEquals(12, Instructions.BRIGHT_TASKS.size());
        for (String t : Instructions.BRIGHT_TASKS) Instructions.bright(t);
    }

    /** instructions_long of the official configs (facebookresearch/ReasonIR evaluation/bright/configs/reasonir). */
    @Test
    void longDocumentPrompts() {
        assertEquals("<|user|>\nGiven a biology post, retrieve relevant documents that help answer the post\n"
                + "<|embed|>\n", Instructions.brightLong("biology"));
        assertEquals("<|user|>\nGiven a sustainable_living post, retrieve relevant documents that help answer the "
                + "post\n<|embed|>\n", Instructions.brightLong("sustainable_living"));
        for (String t : new String[] {"earth_science", "economics", "psychology", "robotics", "stackoverflow"}) {
            assertEquals("<|user|>\nGiven a " + t + " post, retrieve relevant documents that help answer the post\n"
                    + "<|embed|>\n", Instructions.brightLong(t));
        }
        assertEquals("<|user|>\nGiven a pony question, retrieve relevant documents that help answer the question\n"
                + "<|embed|>\n", Instructions.brightLong("pony"));
        for (String t : new String[] {"leetcode", "aops", "theoremqa_questions", "theoremqa_theorems"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Instructions.brightLong(t));
            assertTrue(e.getMessage().contains("no long-document setting"), e.getMessage());
        }
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Instructions.brightLong("chemistry"))
                .getMessage().contains("unknown BRIGHT task"));
    }

    @Test
    void documentAndCustom() {
        assertEquals("<|embed|>\n", Instructions.DOCUMENT);
        assertEquals("<|user|>\nFind X\n<|embed|>\n", Instructions.query("Find X"));
        assertThrows(IllegalArgumentException.class, () -> Instructions.bright("chemistry"));
        assertThrows(IllegalArgumentException.class, () -> Instructions.query(""));
    }
}
