; Triple faults: an exception while delivering a double fault shuts the
; processor down (SDM vol. 3 §6.15, interrupt 8, "the processor enters
; shutdown mode"), which the PC turns into a reset. The program runs three
; times from the reset vector, its phase kept in RAM (a reset does not clear
; memory): phase 0 fails the #DF delivery through a not-present #DF gate,
; phase 1 through an IDT too short for any vector; after each reset the
; registers the program changed hold their reset values (SDM vol. 3 §9.1.1,
; table 9-1: CR2 = 0, DR0-DR3 = 0, DR7 = 0x400). The test also counts the
; machine's triple faults.
%include "harness.inc"

PHASE    equ 0x700              ; outside the harness's variables
MAGIC    equ 0x54524950         ; "PIRT"

; CHECK_RESET_STATE: the registers phase 0/1 dirtied read as after reset.
%macro CHECK_RESET_STATE 0
    mov eax, cr2
    cmp eax, 0
    CHECK "CR2 is 0 after the reset"
    mov eax, dr0
    cmp eax, 0
    CHECK "DR0 is 0 after the reset"
    mov eax, dr7
    cmp eax, 0x400
    CHECK "DR7 is 0x400 after the reset"
%endmacro

; DIRTY_STATE: give CR2, DR0 and DR7 non-reset values (DR7 enables a
; breakpoint nothing will hit).
%macro DIRTY_STATE 0
    mov eax, 0x12345678
    mov cr2, eax
    mov eax, 0x00ABC000
    mov dr0, eax
    mov eax, 0x00000401 | (0b0001 << 16)      ; L0, write, 1 byte
    mov dr7, eax
%endmacro

test_main:
    mov esi, s_hello
    call print
    cmp dword [PHASE], MAGIC
    je phase1
    cmp dword [PHASE], MAGIC + 1
    je phase2

    ; Phase 0: #GP with the #GP and #DF gates not present: #GP, then #NP
    ; (contributory twice: #DF), then #NP delivering #DF: shutdown.
    mov dword [PHASE], MAGIC
    mov esi, s_armed
    call print
    DIRTY_STATE
    and byte [IDT_BASE + 13 * 8 + 5], 0x7F
    and byte [IDT_BASE + 8 * 8 + 5], 0x7F
    xor ax, ax
    mov ss, ax
    mov esi, s_survived
    call print
    jmp finish

phase1:
    mov esi, s_reset
    call print
    CHECK_RESET_STATE
    ; Phase 1: an IDT with limit 0: #UD cannot be delivered (#GP), nor can
    ; the #GP (#DF), nor the #DF: shutdown.
    mov dword [PHASE], MAGIC + 1
    mov esi, s_armed
    call print
    DIRTY_STATE
    lidt [tiny_idtr]
    ud2
    mov esi, s_survived
    call print
    jmp finish

phase2:
    mov esi, s_reset
    call print
    CHECK_RESET_STATE
    mov dword [PHASE], 0
    jmp finish

tiny_idtr:
    dw 0
    dd IDT_BASE

s_hello:    db "pm_triple_fault: protected mode entered", 10, 0
s_armed:    db "triple fault armed", 10, 0
s_reset:    db "restarted from the reset vector", 10, 0
s_survived: db "FAIL the triple fault did not stop the program", 10, 0

%include "rom_end.inc"
