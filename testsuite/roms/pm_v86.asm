; Virtual-8086 mode: entry through IRETD with VM set, real-mode addressing
; inside it, interrupts out of it through a ring-0 gate (with the v8086
; frame), IOPL-sensitive instructions, and I/O through the permission
; bitmap (SDM vol. 3 ch. 20).
%include "harness.inc"

VM_FLAG equ 1 << 17
V86_SS  equ 0x0A00
V86_SP  equ 0x0F00

; TO_V86 label, iopl: IRETD into v8086 mode at F000:label.
%macro TO_V86 2
    push dword 0                    ; GS
    push dword 0                    ; FS
    push dword 0x0052               ; DS: 0x520 = scratch
    push dword 0                    ; ES
    push dword V86_SS
    push dword V86_SP
    push dword VM_FLAG | ((%2) << 12) | 2
    push dword 0xF000
    push dword (%1 - 0xF0000)
    iretd
%endmacro

test_main:
    mov esi, s_hello
    call print

    mov dword [scratch], 0
    BEGIN_EXPECT
    TO_V86 v86_store, 3
    END_EXPECT 0x30, NO_FAULT, "IRETD into v8086 mode and INT 0x30 out (IOPL 3)"
    cmp word [scratch], 0x4242
    CHECK "real-mode addressing inside v8086 mode (DS*16 + offset)"
    test dword [frame + 8], VM_FLAG
    setnz al
    cmp al, 1
    CHECK "the interrupt frame's EFLAGS has VM set"
    cmp dword [frame + 4], 0xF000
    CHECK "the frame holds the v8086 CS"
    cmp dword [frame + 16], V86_SS
    CHECK "the frame holds the v8086 SS"
    cmp dword [frame + 24], 0x0052
    CHECK "DS was pushed after SS for the v8086 frame"

    BEGIN_EXPECT
    TO_V86 v86_cli, 0
    END_EXPECT 13, 0, "CLI in v8086 mode with IOPL 0: #GP(0)"

    BEGIN_EXPECT
    TO_V86 v86_int, 0
    END_EXPECT 13, 0, "INT n in v8086 mode with IOPL 0: #GP(0)"

    BEGIN_EXPECT
    TO_V86 v86_pushf, 0
    END_EXPECT 13, 0, "PUSHF in v8086 mode with IOPL 0: #GP(0)"

    BEGIN_EXPECT
    TO_V86 v86_in, 3
    END_EXPECT 13, 0, "IN in v8086 mode without a bitmap: #GP(0) even at IOPL 3"

    BEGIN_EXPECT
    TO_V86 v86_hlt, 3
    END_EXPECT 13, 0, "HLT in v8086 mode: #GP(0)"

    jmp finish

bits 16
v86_store:
    mov word [0], 0x4242
    int 0x30
v86_cli:
    cli
    int 0x30
v86_int:
    int 0x30
v86_pushf:
    pushf
    int 0x30
v86_in:
    in al, 0x80
    int 0x30
v86_hlt:
    hlt
    int 0x30
bits 32

s_hello: db "pm_v86: protected mode entered", 10, 0

%include "rom_end.inc"
